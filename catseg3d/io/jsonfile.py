"""JSON output that other tools can read: no NaN or infinity (they become null), written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from catseg3d.io.atomic import write_text


def json_safe(value):
    """``value`` with every NaN or infinity replaced by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, value) -> Path:
    """Write ``value`` as indented, strictly valid JSON, atomically."""
    return write_text(path, json.dumps(json_safe(value), indent=1, allow_nan=False))
