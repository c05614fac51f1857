"""Boolean settings as they arrive from the bundle command line."""

from __future__ import annotations

TRUE = {"true", "1", "yes", "on"}
FALSE = {"false", "0", "no", "off"}


def as_bool(value: bool | int | str) -> bool:
    """``True``/``False`` from a bool, 0/1, or a string such as ``"true"`` or ``"False"``.

    ``python -m monai.bundle run ... --resume false`` passes the *string* ``"false"`` (only
    ``False`` with a capital is parsed as a bool), and a non-empty string is truthy; configs
    therefore read their switches through this function.

    Raises:
        ValueError: anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ValueError(f"expected true or false, got {value!r}")
