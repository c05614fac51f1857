"""`catseg3d prepare-genc2022` on the real data of Genc et al. (2022), and on broken copies."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
from conftest import run_catseg3d

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
    return run_catseg3d("prepare-genc2022", src, dest)


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


def test_grouped_folds_hold_every_patch_out_once_and_no_twin_of_it_in_training(genc_prepared, tmp_path):
    import nibabel as nib

    from catseg3d.io.datalist import fold_datalist_name, write_cross_validation_folds
    from catseg3d.io.regions import REGION_NCC_THRESHOLD

    paper = json.loads((genc_prepared / "datalist.json").read_text())
    every = [item["image"] for key in ("training", "validation") for item in paper[key]]
    # similarity computed here, independently: Pearson correlation of the flattened images
    pixels = np.stack([np.asanyarray(nib.load(genc_prepared / name).dataobj, dtype=np.float64).ravel()
                       for name in every])
    ncc = dict(zip(every, np.corrcoef(pixels)))
    position = {name: i for i, name in enumerate(every)}
    # the authors' split: 14 of its 15 validation patches have a training twin (a neighbouring slice)
    twins = [max(ncc[v["image"]][position[t["image"]]] for t in paper["training"]) for v in paper["validation"]]
    assert sum(t > 0.95 for t in twins) == 14 and twins[0] < 0.7
    held_out = []
    for fold in range(5):
        datalist = json.loads((genc_prepared / fold_datalist_name(fold)).read_text())
        training = [item["image"] for item in datalist["training"]]
        validation = [item["image"] for item in datalist["validation"]]
        assert len(validation) == 12 and sorted(training + validation) == sorted(every)
        closest = max(ncc[v][position[t]] for v in validation for t in training)
        assert closest < REGION_NCC_THRESHOLD, f"fold {fold}: a held-out patch has a training twin ({closest:.3f})"
        held_out += validation
    assert sorted(held_out) == sorted(every)  # each of the 60 patches held out exactly once
    copy = tmp_path / "copy"
    shutil.copytree(genc_prepared, copy)
    for fold in range(5):
        (copy / fold_datalist_name(fold)).unlink()
    write_cross_validation_folds(copy)  # from datalist.json alone: the same folds
    for fold in range(5):
        assert (copy / fold_datalist_name(fold)).read_text() == (genc_prepared / fold_datalist_name(fold)).read_text()


def test_regions_are_recorded_and_the_60_patches_form_24(genc_prepared):
    paper = json.loads((genc_prepared / "datalist.json").read_text())
    regions = [item["region"] for key in ("training", "validation") for item in paper[key]]
    assert sorted(set(regions)) == list(range(24)) and max(np.bincount(regions)) == 6
    val_000 = paper["validation"][0]
    assert regions.count(val_000["region"]) == 1  # the one validation patch without a training twin


def test_folds_need_regions(genc_prepared, tmp_path):
    from catseg3d.io.datalist import write_cross_validation_folds

    datalist = json.loads((genc_prepared / "datalist.json").read_text())
    for item in datalist["training"]:
        del item["region"]
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    with pytest.raises(ValueError, match="needs a region"):
        write_cross_validation_folds(tmp_path)


def test_all_patches_datalist_trains_on_every_patch(genc_prepared):
    paper = json.loads((genc_prepared / "datalist.json").read_text())
    every = json.loads((genc_prepared / "datalist_all.json").read_text())
    assert every["training"] == paper["training"] + paper["validation"] and len(every["training"]) == 60
    assert len({item["image"] for item in every["training"]}) == 60
    assert every["validation"] == paper["validation"]  # a monitor inside the training data
