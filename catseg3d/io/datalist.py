"""MONAI datalists: ``{"training": [{"image": ..., "label": ...}], "validation": [...]}``.

Paths inside the JSON are relative to the JSON file, as ``monai.data.load_decathlon_datalist``
expects.
"""

from __future__ import annotations

import os
from pathlib import Path

from catseg3d.io.errors import InputError
from catseg3d.io.jsonfile import write_json

DATALIST_NAME = "datalist.json"
ALL_ITEMS_DATALIST_NAME = "datalist_all.json"
PREPARE_HINT = "make one with catseg3d prepare-genc2022 SRC DEST (SRC: the authors' data folder) or write it by hand"


class DatalistNotFound(InputError):
    """The dataset folder has no datalist."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, f"datalist not found; {PREPARE_HINT}")


def load_datalist(dataset_dir: str | os.PathLike, key: str, filename: str = DATALIST_NAME) -> list[dict]:
    """The ``key`` list (``"training"`` or ``"validation"``) of ``dataset_dir/filename``.

    Returns:
        Items with absolute ``image`` and ``label`` paths.

    Raises:
        DatalistNotFound: ``dataset_dir`` has no such file.
    """
    from monai.data import load_decathlon_datalist

    path = Path(dataset_dir) / filename
    if not path.is_file():
        raise DatalistNotFound(path)
    return load_decathlon_datalist(str(path), is_segmentation=True, data_list_key=key)


def write_datalist(datalist: dict[str, list[dict]], path: str | os.PathLike) -> Path:
    """Write ``datalist`` as JSON to ``path`` atomically (temporary file, then rename)."""
    return write_json(path, datalist)


def image_datalist(folder: str | os.PathLike) -> list[dict]:
    """``[{"image": path}]`` for the ``.nii``/``.nii.gz`` files of ``folder``, in name order.

    Raises:
        InputError: the folder is missing or holds no NIfTI file.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.nii*") if p.name.endswith((".nii", ".nii.gz"))) \
        if folder.is_dir() else []
    if not files:
        raise InputError(folder, "no .nii or .nii.gz files to segment")
    return [{"image": str(p)} for p in files]


def image_shape(dataset_dir: str | os.PathLike, filename: str = DATALIST_NAME) -> list[int]:
    """Spatial size of the first training image of ``dataset_dir/filename``, in MONAI's axis order
    (NIfTI's: ``(x, y)`` or ``(x, y, z)``), from its header alone.

    Raises:
        DatalistNotFound: no such datalist.
    """
    import nibabel as nib

    from catseg3d.io.nifti import nifti_spatial_shape

    first = load_datalist(dataset_dir, "training", filename)[0]["image"]
    return list(nifti_spatial_shape(nib.load(first).shape))


def image_spacing_nm(dataset_dir: str | os.PathLike, filename: str = DATALIST_NAME) -> tuple[float, ...]:
    """Pixel size in nm, numpy order, of the first training image of ``dataset_dir/filename``, from
    its header alone (the NIfTI unit converted, see :mod:`catseg3d.io.nifti`).

    Raises:
        DatalistNotFound: no such datalist.
        InputError: the image is uncalibrated (no voxel size: a model's pixel size must be known).
    """
    import nibabel as nib

    from catseg3d.io.nifti import nifti_spacing_nm, nifti_spatial_shape

    first = load_datalist(dataset_dir, "training", filename)[0]["image"]
    image = nib.load(first)
    spacing = nifti_spacing_nm(image.header, len(nifti_spatial_shape(image.shape)))
    if spacing is None:
        raise InputError(first, "the file holds no voxel size (pixdim 1, unit unknown); write it with "
                                "catseg3d convert --spacing NM")
    return spacing


def fold_datalist_name(fold: int) -> str:
    """``datalist_fold{fold}.json``: the datalist of one cross-validation fold."""
    return f"datalist_fold{fold}.json"


def write_cross_validation_folds(dataset_dir: str | os.PathLike, folds: int = 5) -> list[Path]:
    """Split every item of ``dataset_dir/datalist.json`` (training and validation together) into
    ``folds`` folds that keep each region whole (the items' ``region`` key, see
    :mod:`catseg3d.io.regions`) and write one datalist per fold: that fold's items for
    ``validation``, the others for ``training``. Folds are balanced by item count and depend on the
    datalist alone.

    Returns:
        The paths of the fold datalists, fold 0 first.

    Raises:
        DatalistNotFound: no ``datalist.json``; ValueError: an item without ``region``, or fewer
            regions than folds, or ``folds < 2``.
    """
    import json

    from catseg3d.io.regions import grouped_folds

    dataset_dir = Path(dataset_dir)
    path = dataset_dir / DATALIST_NAME
    if not path.is_file():
        raise DatalistNotFound(path)
    datalist = json.loads(path.read_text())
    items = datalist["training"] + datalist["validation"]
    if any("region" not in item for item in items):
        raise ValueError(f"{path}: every item needs a region to split into grouped folds")
    fold_of_item = grouped_folds([item["region"] for item in items], folds)
    written = []
    for fold in range(folds):
        written.append(write_datalist({"training": [item for item, f in zip(items, fold_of_item) if f != fold],
                                       "validation": [item for item, f in zip(items, fold_of_item) if f == fold]},
                                      dataset_dir / fold_datalist_name(fold)))
    return written


def write_all_items_datalist(dataset_dir: str | os.PathLike) -> Path:
    """Write ``dataset_dir/datalist_all.json``: every item of ``datalist.json`` (training and
    validation together) for ``training``, to train a model to ship on all the labels there are.
    Its ``validation`` list is ``datalist.json``'s, now inside the training data: it shows that
    training runs, and scores nothing (ship the last epoch, not the one it picks).

    Returns:
        The path written.

    Raises:
        DatalistNotFound: no ``datalist.json``.
    """
    import json

    dataset_dir = Path(dataset_dir)
    path = dataset_dir / DATALIST_NAME
    if not path.is_file():
        raise DatalistNotFound(path)
    datalist = json.loads(path.read_text())
    return write_datalist({"training": datalist["training"] + datalist["validation"],
                           "validation": datalist["validation"]}, dataset_dir / ALL_ITEMS_DATALIST_NAME)
