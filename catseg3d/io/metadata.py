"""What a bundle's ``configs/metadata.json`` says about its model: the one place its class names and
training pixel size are read from."""

from __future__ import annotations

import json
import os
from pathlib import Path

from catseg3d.io.errors import InputError


def load_metadata(metadata: str | os.PathLike | dict) -> dict:
    """A ``metadata.json`` (path) as a dictionary; a dictionary is returned as it is.

    Raises:
        InputError: the file cannot be read or is not JSON.
    """
    if isinstance(metadata, dict):
        return metadata
    try:
        return json.loads(Path(metadata).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(metadata, f"cannot read the bundle metadata ({error})") from error


def metadata_class_names(metadata: str | os.PathLike | dict) -> list[str]:
    """The names of the model's output channels, in channel order
    (``network_data_format.outputs.pred.channel_def``)."""
    channel_def = load_metadata(metadata)["network_data_format"]["outputs"]["pred"]["channel_def"]
    return [str(channel_def[str(c)]) for c in range(len(channel_def))]


def metadata_spacing_nm(metadata: str | os.PathLike | dict) -> tuple[float, ...] | None:
    """The training pixel size in nm, numpy order (``network_data_format.inputs.image.spacing_nm``);
    None where the metadata gives none."""
    spacing = load_metadata(metadata)["network_data_format"]["inputs"]["image"].get("spacing_nm")
    return None if spacing is None else tuple(float(s) for s in spacing)
