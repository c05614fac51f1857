"""Pack a MONAI bundle into one ``.zip`` that ``python -m monai.bundle download --url`` installs.

The archive holds one folder named after the bundle (metadata ``name``) with the files of
``configs/`` (hidden ones left out), ``docs/README.md``, ``LICENSE`` and the models (``model.pt`` and any ``model.ts``/``model.onnx`` exports),
never training checkpoints, logs or reports. MONAI's ``download`` extracts it into
``BUNDLE_DIR/NAME``; ``catseg3d segment --model BUNDLE_DIR/NAME`` then runs it.

Before anything is written the bundle is checked: metadata against the schema it ships
(``configs/metadata_schema.json``), and every model file against the metadata (channels,
classes, a loadable network), so that a mismatched bundle fails here, not in another lab.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from catseg3d.inference.model import load_segmentation_model
from catseg3d.io.atomic import atomic_path
from catseg3d.io.errors import InputError

MODEL_FILES = ("model.pt", "model.ts", "model.onnx")
SCHEMA = Path("configs") / "metadata_schema.json"


def check_bundle(bundle: str | os.PathLike) -> tuple[str, list[Path]]:
    """The bundle's name and the files to pack, after checking it.

    Raises:
        InputError: no metadata or no ``models/model.pt``, metadata that breaks the schema, or a
            model file that does not match the metadata.
    """
    import jsonschema

    bundle = Path(bundle)
    metadata_path = bundle / "configs" / "metadata.json"
    if not metadata_path.is_file():
        raise InputError(bundle, "not a bundle: no configs/metadata.json")
    try:
        metadata = json.loads(metadata_path.read_text())
        jsonschema.validate(metadata, json.loads((bundle / SCHEMA).read_text()))
    except FileNotFoundError as error:
        raise InputError(bundle / SCHEMA, "no schema to check the metadata against") from error
    except (json.JSONDecodeError, jsonschema.ValidationError) as error:
        raise InputError(metadata_path, f"invalid metadata ({str(error).splitlines()[0]})") from error
    models = [bundle / "models" / name for name in MODEL_FILES if (bundle / "models" / name).is_file()]
    if bundle / "models" / "model.pt" not in models:
        raise InputError(bundle / "models" / "model.pt", "no such model file")
    for model in models:
        load_segmentation_model(model)  # raises InputError on any mismatch
    files = [p for p in sorted((bundle / "configs").iterdir()) if p.is_file() and not p.name.startswith(".")]
    files += models
    files += [p for p in (bundle / "docs" / "README.md", bundle / "LICENSE") if p.is_file()]
    return str(metadata["name"]), files


def pack_bundle(bundle: str | os.PathLike, output: str | os.PathLike) -> Path:
    """Check ``bundle`` and write it to the ``.zip`` file ``output`` atomically.

    Raises:
        InputError: see :func:`check_bundle`; also an output that is not a ``.zip`` in an
            existing folder.
    """
    bundle, output = Path(bundle), Path(output)
    if output.suffix.lower() != ".zip" or not output.parent.is_dir():
        raise InputError(output, "output must be a .zip file in an existing folder")
    name, files = check_bundle(bundle)
    with atomic_path(output) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, Path(name) / file.relative_to(bundle))
    return output
