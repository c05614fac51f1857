"""The error raised for input that cannot be used; the CLI prints it as one line."""


class InputError(ValueError):
    """Bad user input: an unreadable file, inconsistent data or a missing voxel size.

    The message names the file and the problem on a single line (line breaks in ``problem``, as
    some libraries' messages hold, are folded into spaces).
    """

    def __init__(self, path, problem: str) -> None:
        super().__init__(f"{path}: {' '.join(str(problem).split())}")
