"""The error raised for input that cannot be used; the CLI prints it as one line."""


class InputError(ValueError):
    """Bad user input: an unreadable file, inconsistent data or a missing voxel size.

    The message names the file and the problem, so it can be shown as a single line.
    """

    def __init__(self, path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
