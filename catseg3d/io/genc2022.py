"""Prepare the annotated patches of Genc, Kovarik & Fraser (2022) as NIfTI plus a datalist.

The authors' layout (``ArdaGen/Multi_Class_Semantic_Segmentation/data``)::

    SRC/train/train_images/*.tif   SRC/train/train_masks/*.tif   (45 each)
    SRC/val/val_images/*.tif       SRC/val/val_masks/*.tif       (15 each)

Images and masks have unrelated file names; the authors pair them by sorted file-name order
within each folder (Keras ``flow_from_directory``), and so does this module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from catseg3d.io.atomic import current_umask
from catseg3d.io.datalist import DATALIST_NAME, write_all_items_datalist, write_cross_validation_folds, write_datalist
from catseg3d.io.errors import InputError
from catseg3d.io.nifti import write_nifti
from catseg3d.io.readers import TIFF_SUFFIXES, read_volume
from catseg3d.io.regions import REGION_NCC_THRESHOLD, similarity_regions
from catseg3d.io.volume import Volume

GENC2022_SPACING_NM = 0.12
CLASS_NAMES = ("background", "alumina", "pt")
# split name in the datalist -> (image folder, mask folder, output prefix), relative to SRC
SPLITS = {
    "training": ("train/train_images", "train/train_masks", "train"),
    "validation": ("val/val_images", "val/val_masks", "val"),
}


def paired_files(image_dir: Path, mask_dir: Path) -> list[tuple[Path, Path]]:
    """Image and mask files paired by sorted file name within each folder.

    Raises:
        InputError: a folder is missing or empty, or the counts differ.
    """
    listed = []
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise InputError(folder, "folder not found")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in TIFF_SUFFIXES)
        if not files:
            raise InputError(folder, "folder holds no .tif files")
        listed.append(files)
    images, masks = listed
    if len(images) != len(masks):
        raise InputError(mask_dir, f"{len(masks)} masks for {len(images)} images in {image_dir}")
    return list(zip(images, masks))


def check_pair(image: np.ndarray, mask: np.ndarray, image_file: Path, mask_file: Path) -> None:
    """Check one image/mask pair: 2D, equal shapes divisible by 32, labels in {0, 1, 2}.

    Raises:
        InputError: naming the offending file.
    """
    if image.ndim != 2:
        raise InputError(image_file, f"expected a 2D image, got shape {image.shape}")
    if mask.shape != image.shape:
        raise InputError(mask_file, f"mask shape {mask.shape} differs from image shape "
                                    f"{image.shape} of {image_file.name}")
    if any(s % 32 for s in image.shape):
        raise InputError(image_file, f"shape {image.shape} is not a multiple of 32")
    values = set(np.unique(mask).tolist())
    if not values <= set(range(len(CLASS_NAMES))):
        raise InputError(mask_file, f"label values {sorted(values)} outside {{0, 1, 2}}")


def prepare_genc2022(src: str | os.PathLike, dest: str | os.PathLike,
                     spacing_nm: float = GENC2022_SPACING_NM) -> Path:
    """Convert the authors' TIFF patches to NIfTI image/label pairs and a MONAI datalist.

    Writes ``DEST/{train,val}_NNN_{image,label}.nii.gz`` (``(y, x)`` images, uint8, spacing
    ``spacing_nm`` nm), ``DEST/datalist.json`` with ``training`` and ``validation`` lists whose
    items also record the source file names and the patch's region (patches of neighbouring slices
    share one: :func:`catseg3d.io.regions.similarity_regions`), and ``DEST/datalist_fold{0..4}.json``,
    a 5-fold cross-validation over all 60 patches in which every region sits whole in one fold
    (:func:`catseg3d.io.datalist.write_cross_validation_folds`), and ``DEST/datalist_all.json``, all
    60 for training (the shipped model; :func:`catseg3d.io.datalist.write_all_items_datalist`). ``datalist.json`` keeps the
    authors' split (45 training, 15 validation), whose validation patches are neighbouring slices of
    training patches. Everything is read and checked before anything is written, into a temporary
    folder that is renamed to ``DEST`` at the end.

    Returns:
        The path of the datalist JSON.

    Raises:
        InputError: missing folders, unequal counts, unreadable files, wrong shapes or labels, or
            ``DEST`` already exists.
    """
    src, dest = Path(src), Path(dest)
    if dest.exists():
        raise InputError(dest, "already exists; remove it or choose another destination")
    pairs = {}
    for split, (image_folder, mask_folder, _) in SPLITS.items():
        pairs[split] = []
        for image_file, mask_file in paired_files(src / image_folder, src / mask_folder):
            image = read_volume(image_file, spacing=spacing_nm).array
            mask = read_volume(mask_file, spacing=spacing_nm).array
            check_pair(image, mask, image_file, mask_file)
            pairs[split].append((image_file, mask_file, image, mask))

    all_images = [image for items in pairs.values() for _, _, image, _ in items]
    regions = iter(similarity_regions(all_images, REGION_NCC_THRESHOLD).tolist())

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        datalist = {}
        for split, items in pairs.items():
            prefix = SPLITS[split][2]
            datalist[split] = []
            for index, (image_file, mask_file, image, mask) in enumerate(items):
                names = {key: f"{prefix}_{index:03d}_{key}.nii.gz" for key in ("image", "label")}
                write_nifti(Volume(image, (spacing_nm,) * 2), tmp / names["image"])
                write_nifti(Volume(mask.astype(np.uint8), (spacing_nm,) * 2), tmp / names["label"])
                datalist[split].append({**names, "source_image": image_file.name,
                                        "source_label": mask_file.name, "region": next(regions)})
        write_datalist(datalist, tmp / DATALIST_NAME)
        region_count = len({item["region"] for items in datalist.values() for item in items})
        if region_count >= 2:  # 5 folds, fewer for a dataset of fewer regions
            write_cross_validation_folds(tmp, folds=min(5, region_count))
        write_all_items_datalist(tmp)
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest / DATALIST_NAME
