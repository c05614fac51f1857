"""One-line errors for ``python -m monai.bundle run``, a command line catseg3d does not own."""

from __future__ import annotations

import sys

from catseg3d.io.errors import InputError


def input_error_in(error: BaseException | None) -> InputError | None:
    """The :class:`InputError` that ``error`` is or was raised from (MONAI wraps errors raised while it
    instantiates a component), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, InputError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def report_input_errors_in_one_line() -> None:
    """Let an uncaught :class:`InputError` end the process with one line on stderr, not a traceback.

    The bundle configs call this first in ``initialize``: a missing datalist, a run folder that holds
    a model, or ``--resume true`` with nothing to resume then print ``catseg3d: error: PATH: PROBLEM``
    and the process ends with exit status 1, as Python ends after any uncaught exception. Every other
    exception keeps its traceback. Installs a ``sys.excepthook`` once; it never exits the process.
    """
    if getattr(sys.excepthook, "catseg3d", False):
        return
    previous = sys.excepthook

    def hook(kind, error, trace):
        cause = input_error_in(error)
        if cause is None:
            previous(kind, error, trace)
        else:
            print(f"catseg3d: error: {cause}", file=sys.stderr)

    hook.catseg3d = True
    sys.excepthook = hook
