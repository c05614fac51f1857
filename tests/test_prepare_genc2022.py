"""`catseg3d prepare-genc2022` on the real data of Genc et al. (2022), and on broken copies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from catseg3d.io import read_nifti

SPLITS = {"training": ("train/train_images", "train/train_masks", 45),
          "validation": ("val/val_images", "val/val_masks", 15)}


def test_counts_labels_spacing_and_pairing(genc_src, genc_prepared):
    datalist = json.loads((genc_prepared / "datalist.json").read_text())
    assert sorted(datalist) == ["training", "validation"]
    for split, (image_folder, mask_folder, count) in SPLITS.items():
        items = datalist[split]
        assert len(items) == count
        images = sorted(p.name for p in (genc_src / image_folder).iterdir())
        masks = sorted(p.name for p in (genc_src / mask_folder).iterdir())
        counts = np.zeros(3)
        for item, image_name, mask_name in zip(items, images, masks):
            assert (item["source_image"], item["source_label"]) == (image_name, mask_name)
            image = read_nifti(genc_prepared / item["image"])  # paths are relative to the JSON
            label = read_nifti(genc_prepared / item["label"])
            assert image.spacing == label.spacing == (0.12, 0.12)
            np.testing.assert_array_equal(image.array, tifffile.imread(genc_src / image_folder / image_name))
            np.testing.assert_array_equal(label.array, tifffile.imread(genc_src / mask_folder / mask_name))
            assert set(np.unique(label.array)) <= {0, 1, 2}
            counts += np.bincount(label.array.ravel(), minlength=3)
        fractions = 100 * counts / counts.sum()
        # the data README's class balance: train 79.3 / 20.4 / 0.33 %, val 84.4 / 15.3 / 0.25 %
        # (its train alumina figure is 100 - 79.3 - 0.33 = 20.37 rounded up; we count 20.35)
        expected = (79.3, 20.4, 0.33) if split == "training" else (84.4, 15.3, 0.25)
        np.testing.assert_allclose(fractions, expected, atol=0.06)
    # the pairing example the data README gives
    first = datalist["training"][0]
    assert first["source_image"] == "stem_images_al_10000.tifpatch_00.tif"
    assert first["source_label"] == "set1_0005.tifpatch_00.tif"


def broken_copy(genc_src, tmp_path):
    """A small copy of the authors' layout (4 training and 2 validation pairs) to break."""
    src = tmp_path / "src"
    for image_folder, mask_folder, _ in SPLITS.values():
        for folder in (image_folder, mask_folder):
            (src / folder).mkdir(parents=True)
            for file in sorted((genc_src / folder).iterdir())[:2]:
                shutil.copy(file, src / folder / file.name)
    return src


def run_prepare(src, dest):
    return subprocess.run([sys.executable, "-m", "catseg3d", "prepare-genc2022", str(src), str(dest)],
                          capture_output=True, text=True)


def test_small_copy_prepares(genc_src, tmp_path):
    src = broken_copy(genc_src, tmp_path)
    result = run_prepare(src, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    datalist = json.loads((tmp_path / "out" / "datalist.json").read_text())
    assert [len(datalist[s]) for s in ("training", "validation")] == [2, 2]
    from catseg3d.io.atomic import current_umask

    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~current_umask()  # not mkdtemp's 0700


def extra_mask(src):
    tifffile.imwrite(src / "val/val_masks/zzz.tif", np.zeros((512, 512), np.uint8))
    return "val/val_masks", "2 images"


def label_three(src):
    mask = next(iter(sorted((src / "train/train_masks").iterdir())))
    data = tifffile.imread(mask)
    data[0, 0] = 3
    tifffile.imwrite(mask, data)
    return mask.name, "3] outside {0, 1, 2}"


def wrong_size(src):
    image = next(iter(sorted((src / "val/val_images").iterdir())))
    tifffile.imwrite(image, np.zeros((500, 512), np.uint8))
    return "val_masks", "differs from image shape (500, 512)"


def unreadable(src):
    image = next(iter(sorted((src / "train/train_images").iterdir())))
    image.write_bytes(b"not a tiff")
    return image.name, "cannot read TIFF"


@pytest.mark.parametrize("breakage", [extra_mask, label_three, wrong_size, unreadable])
def test_bad_input_is_one_line_error_and_no_output(genc_src, tmp_path, breakage):
    src = broken_copy(genc_src, tmp_path)
    names_file, problem = breakage(src)
    result = run_prepare(src, tmp_path / "out")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("catseg3d: error: "), result.stderr
    assert names_file in lines[0] and problem in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # nothing written, no temp left


def test_existing_destination_is_refused(genc_src, tmp_path):
    (tmp_path / "out").mkdir()
    result = run_prepare(broken_copy(genc_src, tmp_path), tmp_path / "out")
    assert result.returncode == 2 and "already exists" in result.stderr
    assert not any((tmp_path / "out").iterdir())


def test_cross_validation_folds_partition_all_60_patches(genc_prepared, tmp_path):
    import shutil

    from catseg3d.io import load_datalist
    from catseg3d.io.datalist import fold_datalist_name, write_cross_validation_folds

    every = {item["image"] for key in ("training", "validation") for item in load_datalist(genc_prepared, key)}
    held_out = []
    for fold in range(5):
        training = {item["image"] for item in load_datalist(genc_prepared, "training", fold_datalist_name(fold))}
        validation = {item["image"] for item in load_datalist(genc_prepared, "validation", fold_datalist_name(fold))}
        assert len(validation) == 12 and training | validation == every and not training & validation
        held_out.append(validation)
    assert set.union(*held_out) == every and sum(map(len, held_out)) == 60  # each patch held out once
    copy = tmp_path / "copy"
    shutil.copytree(genc_prepared, copy)
    write_cross_validation_folds(copy)  # the same seed, the same folds
    for fold in range(5):
        assert (copy / fold_datalist_name(fold)).read_text() == (genc_prepared / fold_datalist_name(fold)).read_text()
