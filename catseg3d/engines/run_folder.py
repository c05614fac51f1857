"""A training run's folder is a bundle of its own: ``models/``, ``configs/`` and ``logs/``.

The bundle's training workflow writes into its ``bundle_root`` (by default ``runs/<dataset>``, never
the shipped bundle): the networks to ``models/``, TensorBoard logs to ``logs/``, and, before the first
epoch, the configs of the bundle it was trained from with a ``metadata.json`` that records the
training data's pixel size. ``catseg3d segment --model RUN``, ``catseg3d pack RUN`` and the
``evaluating`` workflow with ``--bundle_root RUN`` take the folder as it is.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

from catseg3d.engines.checkpoints import latest_checkpoint
from catseg3d.io.errors import InputError
from catseg3d.io.jsonfile import write_json

METADATA_3D = "metadata_3d.json"  # a bundle's overrides of metadata.json for 3D networks (key paths joined by #)
SPACING_KEY = "network_data_format#inputs#image#spacing_nm"


class RunFolderInUse(InputError):
    """The run folder already holds a model that training would replace."""


def prepare_run_folder(run_dir: str | os.PathLike, metadata: dict, configs_dir: str | os.PathLike,
                       resume: bool = False, spacing_nm=None, write: bool = True) -> str:
    """Check that training into ``run_dir`` loses nothing, and make the folder a bundle.

    Args:
        run_dir: the run folder (the workflow's ``bundle_root``).
        metadata: the bundle metadata the workflow loaded (``@_meta_``).
        configs_dir: the configs folder of the bundle trained from; its files are copied into
            ``run_dir/configs`` (hidden files and ``metadata.json`` left out).
        resume: the run continues from its newest checkpoint.
        spacing_nm: pixel size in nm of the training images, numpy order; recorded as the model's
            ``network_data_format.inputs.image.spacing_nm`` in ``metadata.json`` where that has as
            many axes, else in the copied ``metadata_3d.json`` (a 3D network's overrides) where
            that has.
        write: copy and write the files (only one process of a distributed run does).

    Returns:
        ``run_dir``.

    Raises:
        RunFolderInUse: ``run_dir/models`` holds a ``model.pt`` and no checkpoint (a shipped or
            copied model, never replaced by training), or checkpoints of a run and ``resume`` is off.
    """
    run_dir = Path(run_dir)
    models = run_dir / "models"
    if not resume and latest_checkpoint(models):
        raise RunFolderInUse(models, "holds a trained run; continue it with --resume true or train into "
                                     "another folder (--bundle_root DIR)")
    if (models / "model.pt").is_file() and not latest_checkpoint(models):
        raise RunFolderInUse(models, "holds a model that is not a training run's (a shipped model?); train into "
                                     "another folder (--bundle_root DIR)")
    if not write:
        return str(run_dir)
    configs = run_dir / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    source = Path(configs_dir)
    if source.resolve() != configs.resolve():
        for file in sorted(source.iterdir()):
            if file.is_file() and not file.name.startswith(".") and file.name != "metadata.json":
                shutil.copyfile(file, configs / file.name)
    run_metadata = copy.deepcopy(dict(metadata))
    image = run_metadata.get("network_data_format", {}).get("inputs", {}).get("image")
    if spacing_nm is not None:
        spacing = [float(s) for s in spacing_nm]
        overrides_3d = json.loads((configs / METADATA_3D).read_text()) if (configs / METADATA_3D).is_file() else {}
        if image is not None and len(image.get("spacing_nm", spacing)) == len(spacing):
            image["spacing_nm"] = spacing
        elif len(overrides_3d.get(SPACING_KEY, ())) == len(spacing):
            overrides_3d[SPACING_KEY] = spacing
            write_json(configs / METADATA_3D, overrides_3d)
    write_json(configs / "metadata.json", run_metadata)
    return str(run_dir)
