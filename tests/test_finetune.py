"""catseg3d finetune: sparse labels in, a bundle out that segment, pack and the bundle workflow take."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from conftest import REPO, run_bundle_here, run_monai_bundle
from test_segment import make_bundle

from catseg3d.cli.main import main
from catseg3d.finetune import labelled_slices, prepare_finetune_dataset
from catseg3d.finetune.command import DATASET_FOLDER
from catseg3d.finetune.dataset import FINETUNE_RECORD
from catseg3d.io import InputError, Volume, read_nifti, write_nifti
from catseg3d.io.labels import UNLABELLED, keep_slices
from catseg3d.transforms import IntensityMapping
from catseg3d.transforms.intensity import sample_indices

SMALL = {"crop_size": [32, 32], "crops_per_slice": 2, "val_interval": 2, "learning_rate": 0.003}  # a random parent
EPOCHS = {"epochs": 200}  # a fixed number of epochs, not minutes: the same result on a slower or busier CPU


def phantom(seed=0, shape=(16, 48, 48)):
    """A float reconstruction (negative values, noise) of a support slab (class 1) with bright
    particles (class 2) on it, and its exact labels."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:shape[0], :shape[1], :shape[2]]
    labels = np.zeros(shape, np.uint8)
    labels[(x > 10) & (x < 38)] = 1
    for cz, cy, cx in rng.integers((2, 4, 12), (shape[0] - 2, shape[1] - 4, 36), size=(12, 3)):
        labels[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= 4] = 2
    image = np.choose(labels, [-200.0, 800.0, 2000.0]) + 60 * rng.standard_normal(shape)
    return Volume(image.astype(np.float32), (0.5, 0.5, 0.5)), Volume(labels, (0.5, 0.5, 0.5))


def test_labelled_slices_finds_the_planes_the_labels_were_drawn_in():
    labels = np.full((10, 12, 14), UNLABELLED, np.uint8)
    labels[3] = 1
    labels[7] = 0
    labels[:, :, 5] = 2  # a yz slice crossing both
    assert labelled_slices(labels) == [(0, 3), (0, 7), (2, 5)]
    strokes = np.full((10, 12, 14), UNLABELLED, np.uint8)
    strokes[4, 2:9, 3] = 1
    strokes[4, 6, 1:12] = 0  # two strokes in the xy slice 4
    assert labelled_slices(strokes) == [(0, 4)]


def test_the_dataset_keeps_every_labelled_pixel_once_in_training_or_validation(tmp_path):
    image, labels = phantom()
    sparse = keep_slices(labels.array, {0: [4, 11], 2: [20]})
    data = prepare_finetune_dataset([image], [Volume(sparse, labels.spacing)], ["lab.nii.gz"], tmp_path,
                                    IntensityMapping(), 3, crop_size=64, size_multiple=32, block=16)
    assert [(s.axis, s.index) for s in data.slices] == [(0, 4), (0, 11), (2, 20)]
    datalist = json.loads((tmp_path / "datalist.json").read_text())
    truth = [labels.array[4], labels.array[11], labels.array[:, :, 20]]
    total = 0
    for k, expected in enumerate(truth):
        train = read_nifti(tmp_path / f"slice_{k:03d}_training_label.nii.gz").array
        assert train.shape[0] % 32 == 0 and train.shape[0] >= 64 and train.shape[1] >= 64  # padded with 255
        val_path = tmp_path / f"slice_{k:03d}_validation_label.nii.gz"
        val = read_nifti(val_path).array if val_path.exists() else np.full_like(train, UNLABELLED)
        assert not ((train != UNLABELLED) & (val != UNLABELLED)).any()  # held out = not trained on
        both = np.where(train != UNLABELLED, train, val)
        h, w = expected.shape
        np.testing.assert_array_equal(both[:h, :w], expected)
        assert (both[h:] == UNLABELLED).all() and (both[:, w:] == UNLABELLED).all()
        total += int((both != UNLABELLED).sum())
    assert data.training_pixels + data.validation_pixels == total == sum(data.labelled_pixels.values())
    assert 0.1 < data.validation_pixels / total < 0.35 and len(datalist["validation"]) >= 1
    assert data.spacing_nm == (0.5, 0.5) and data.labelled_pixels[2] == sum(int((t == 2).sum()) for t in truth)


def test_bad_labels_are_refused_with_the_file_named(tmp_path):
    image, labels = phantom()
    with pytest.raises(InputError, match=r"lab.nii: labels of shape \(16, 48, 40\)"):
        prepare_finetune_dataset([image], [Volume(labels.array[..., :40], labels.spacing)], ["lab.nii"], tmp_path,
                                 IntensityMapping(), 3)
    with pytest.raises(InputError, match=r"lab.nii: label values \[7\] are neither classes 0..2 nor 255"):
        prepare_finetune_dataset([image], [Volume(np.where(labels.array == 2, 7, labels.array), labels.spacing)],
                                 ["lab.nii"], tmp_path, IntensityMapping(), 3)
    with pytest.raises(InputError, match="no labelled pixel"):
        prepare_finetune_dataset([image], [Volume(np.full_like(labels.array, UNLABELLED), labels.spacing)],
                                 ["lab.nii"], tmp_path, IntensityMapping(), 3)
    with pytest.raises(InputError, match=r"lab.nii: labels with voxel size 0.5 x 0.5 x 0.6 nm for an image of "
                                          r"0.5 x 0.5 x 0.5 nm$"):
        prepare_finetune_dataset([image], [Volume(labels.array, (0.5, 0.5, 0.6))], ["lab.nii"], tmp_path,
                                 IntensityMapping(), 3)
    # two volumes more than 4x apart in voxel size (float32 tails not shown)
    other = Volume(image.array, (np.float32(0.1),) * 3)
    with pytest.raises(InputError, match=r"a.nii: labelled slices of pixel size 0.5 x 0.5 nm and 0.1 x 0.1 nm: "
                                          r"more than 4x apart"):
        prepare_finetune_dataset([image, other], [labels, Volume(labels.array, other.spacing)], ["a.nii", "b.nii"],
                                 tmp_path, IntensityMapping(), 3)


def test_slices_of_other_pixel_sizes_are_enlarged_to_the_finest(tmp_path):
    """Two volumes (0.5 and 0.3 nm) and an anisotropic one labelled in two planes: every slice is
    trained at 0.3 nm; labels resampled by nearest pixel centre, as numpy computes it."""
    image, labels = phantom()
    sparse = keep_slices(labels.array, {0: [5]})
    fine = Volume(image.array, (0.3,) * 3)
    data = prepare_finetune_dataset([image, fine], [Volume(sparse, image.spacing), Volume(sparse, fine.spacing)],
                                    ["a.nii", "b.nii"], tmp_path / "two", IntensityMapping(), 3, crop_size=16,
                                    size_multiple=1, holdout=0.0)
    assert data.spacing_nm == (0.3, 0.3) and data.resampled_slices == 1
    record = json.loads((tmp_path / "two" / FINETUNE_RECORD).read_text())
    assert record["spacing_nm"] == [0.3, 0.3] and record["resampled_slices"] == 1
    parts = [read_nifti(f) for f in sorted((tmp_path / "two").glob("slice_000_*_label.nii.gz"))]
    assert {p.spacing for p in parts} == {(0.3, 0.3)} and parts[0].array.shape == (80, 80)  # 48 px of 0.5 nm
    enlarged = np.min([p.array for p in parts], axis=0)  # training and held-out pixels together
    centres = np.floor((np.arange(80) + 0.5) * 48 / 80).astype(int)
    np.testing.assert_array_equal(enlarged, labels.array[5][np.ix_(centres, centres)])
    mapped = read_nifti(tmp_path / "two" / "slice_000_image.nii.gz").array
    kept = read_nifti(tmp_path / "two" / "slice_001_image.nii.gz").array  # the 0.3 nm volume's slice, as it was
    assert abs(float(mapped.mean()) - float(kept.mean())) < 2  # the same slice, enlarged: its levels kept
    # one volume of 0.5 nm slices and 0.25 nm rows and columns, labelled in a z and an x slice
    anisotropic = (0.5, 0.25, 0.25)
    sparse = keep_slices(labels.array, {0: [5], 2: [24]})
    data = prepare_finetune_dataset([Volume(image.array, anisotropic)], [Volume(sparse, anisotropic)], ["c.nii"],
                                    tmp_path / "aniso", IntensityMapping(), 3, crop_size=16, size_multiple=1,
                                    holdout=0.0)
    assert data.spacing_nm == (0.25, 0.25) and data.resampled_slices == 1
    shapes = sorted(read_nifti(f).array.shape for f in (tmp_path / "aniso").glob("slice_*_image.nii.gz"))
    assert shapes == [(32, 48), (48, 48)]  # the x slice's 16 slices of 0.5 nm: 32 rows of 0.25
    # 4x apart is the most segment resamples by, and taken here too (5x is refused, above)
    finest = Volume(image.array, (0.125,) * 3)
    data = prepare_finetune_dataset([image, finest], [Volume(sparse, image.spacing), Volume(sparse, finest.spacing)],
                                    ["a.nii", "d.nii"], tmp_path / "four", IntensityMapping(), 3, crop_size=16,
                                    size_multiple=1, holdout=0.0)
    assert data.spacing_nm == (0.125, 0.125) and data.resampled_slices == 2  # the z and x slices of a.nii


def dice(pred, truth, c):
    return 2 * ((pred == c) & (truth == c)).sum() / ((pred == c).sum() + (truth == c).sum())


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """A random tiny parent, fine-tuned by the CLI on 3 labelled slices of a phantom volume."""
    root = tmp_path_factory.mktemp("finetune")
    parent = make_bundle(root / "parent", spacing_nm=0.5)
    image, labels = phantom()
    write_nifti(image, root / "image.nii.gz")
    write_nifti(labels, root / "truth.nii.gz")
    write_nifti(labels, root / "segmented.nii.gz")  # stands for segment's labels, corrected
    assert main(["label-slices", str(root / "segmented.nii.gz"), str(root / "corrected.nii.gz"), "--z", "3", "12",
                 "--x", "24"]) == 0
    # saved again as ITK-SNAP saves a segmentation: ITK's NIfTI writer, unit code mm, no description
    import SimpleITK as sitk

    corrected = sitk.ReadImage(str(root / "corrected.nii.gz"))
    for key in corrected.GetMetaDataKeys():
        corrected.EraseMetaData(key)
    sitk.WriteImage(corrected, str(root / "labels.nii.gz"))
    assert nib.load(root / "labels.nii.gz").header.get_xyzt_units()[0] == "mm"
    from catseg3d.finetune import finetune

    result = finetune([root / "image.nii.gz"], [root / "labels.nii.gz"], root / "out", model=parent, minutes=10,
                      overrides={**SMALL, **EPOCHS})
    return root, parent, result


def test_finetune_turns_a_wrong_model_right_and_writes_a_bundle_segment_takes(finetuned):
    root, parent, result = finetuned
    truth = read_nifti(root / "truth.nii.gz").array
    assert main(["segment", str(root / "image.nii.gz"), str(root / "before.nii.gz"), "--model", str(parent)]) == 0
    assert main(["segment", str(root / "image.nii.gz"), str(root / "after.nii.gz"), "--model", str(result.bundle)]) == 0
    before, after = read_nifti(root / "before.nii.gz").array, read_nifti(root / "after.nii.gz").array
    unseen = np.ones(truth.shape[0], bool)
    unseen[[3, 12]] = False  # slices never labelled (the x slice 24 crosses them all)
    scores = [[dice(pred[unseen], truth[unseen], c) for c in (1, 2)] for pred in (before, after)]
    assert scores[1][0] > 0.9 and scores[1][0] > scores[0][0] + 0.3, scores
    metadata = json.loads((result.bundle / "configs" / "metadata.json").read_text())
    entry = metadata["finetune"]
    assert entry["parent"] == str(parent.resolve()) and entry["minutes"] > 0 and entry["epochs"] >= 1
    assert sum(entry["labelled_pixels"].values()) == result.labelled_pixels == 2 * 48 * 48 + 16 * 48  # the lines where slices cross count in each
    assert [s["axis"] + str(s["index"]) for s in entry["slices"]] == ["z3", "z12", "x24"]
    assert metadata["network_data_format"]["inputs"]["image"]["spacing_nm"] == [0.5, 0.5]
    # segmenting the fine-tuning volume maps it to 8 bits exactly as training did (percentile mode:
    # the window from the same sample slices)
    record = json.loads((result.bundle / DATASET_FOLDER / FINETUNE_RECORD).read_text())
    mapping = IntensityMapping.from_metadata(metadata)
    image = read_nifti(root / "image.nii.gz").array
    window = mapping.window("auto", image.dtype, [image[i] for i in sample_indices(image.shape[0])])
    np.testing.assert_allclose(window, record["intensity_windows"][0], rtol=1e-6)
    assert main(["pack", str(result.bundle), str(root / "finetuned.zip")]) == 0


def test_finetune_refuses_to_write_over_a_model(finetuned, capsys):
    root, parent, result = finetuned
    code = main(["finetune", "--images", str(root / "image.nii.gz"), "--labels", str(root / "labels.nii.gz"),
                 "--out", str(result.bundle), "--model", str(parent)])
    assert code == 2
    assert capsys.readouterr().err.strip().endswith("holds a fine-tuning run; continue it with --resume or write "
                                                     "to another folder")


def test_other_classes_replace_the_output_layer_and_the_bundle_command_runs_from_scratch(finetuned, tmp_path):
    root, parent, result = finetuned
    four = np.where(read_nifti(root / "labels.nii.gz").array == 2, 3, read_nifti(root / "labels.nii.gz").array)
    write_nifti(Volume(four.astype(np.uint8), (0.5, 0.5, 0.5)), tmp_path / "four.nii.gz")
    from catseg3d.finetune import finetune

    lines = []
    out = finetune([root / "image.nii.gz"], [tmp_path / "four.nii.gz"], tmp_path / "four",
                   model=parent, minutes=0.05, classes=["pores", "support", "oxide", "metal"], overrides=SMALL,
                   report=lines.append)
    assert any("4 classes instead of the parent's 3: the output layer is replaced" in line for line in lines)
    assert main(["segment", str(root / "image.nii.gz"), str(tmp_path / "four_seg.nii.gz"), "--model",
                 str(out.bundle)]) == 0
    channel_def = json.loads((out.bundle / "configs" / "metadata.json").read_text())["network_data_format"][
        "outputs"]["pred"]["channel_def"]
    assert channel_def == {"0": "pores", "1": "support", "2": "oxide", "3": "metal"}
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "image.nii.gz").write_bytes((root / "image.nii.gz").read_bytes())
    inference = [sys.executable, "-m", "monai.bundle", "run", "inference", "--config_file",
                 str(["bundle/configs/train.yaml", "bundle/configs/inference.yaml"]), "--bundle_root", str(out.bundle),
                 "--input_dir", str(inputs), "--inference_dir", str(tmp_path / "inferred"), "--roi_size", "[16,16]",
                 "--autocast", "false"]
    run = run_monai_bundle(*inference[3:])
    assert run.returncode == 0, run.stderr[-3000:]
    assert main(["segment", str(inputs / "image.nii.gz"), str(tmp_path / "windowed.nii.gz"), "--model", str(out.bundle),
                 "--window", "16", "--precision", "float32"]) == 0
    np.testing.assert_array_equal(read_nifti(tmp_path / "inferred" / "image_seg.nii.gz").array,
                                  read_nifti(tmp_path / "windowed.nii.gz").array)
    # the evaluating workflow scores the four classes under their own names (dense labels of one slice)
    slice_dir = tmp_path / "slice"
    slice_dir.mkdir()
    truth = read_nifti(root / "truth.nii.gz")
    write_nifti(Volume(read_nifti(root / "image.nii.gz").array[5], (0.5, 0.5)), slice_dir / "image.nii.gz")
    write_nifti(Volume(np.where(truth.array[5] == 2, 3, truth.array[5]).astype(np.uint8), (0.5, 0.5)),
                slice_dir / "label.nii.gz")
    (slice_dir / "datalist.json").write_text(json.dumps({key: [{"image": "image.nii.gz", "label": "label.nii.gz"}]
                                                         for key in ("training", "validation")}))
    run_bundle_here("evaluating", ["bundle/configs/train.yaml", "bundle/configs/evaluate.yaml"], slice_dir, out.bundle,
                    "--eval_dir", tmp_path / "eval", "--autocast", "false")
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert list(report["metrics"]["dsc"]) == ["pores", "support", "oxide", "metal"] and report["n_images"] == 1
    command = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file",
               str(["bundle/configs/train.yaml", "bundle/configs/finetune.yaml"]),
               "--dataset_dir", str(result.bundle / "dataset"), "--bundle_root", str(tmp_path / "scratch"),
               "--parent_bundle", "none", "--time_limit_minutes", "0.05", "--network_def#features", "[4,8,16]",
               *[item for key, value in SMALL.items() for item in (f"--{key}", json.dumps(value))]]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "scratch" / "models" / "model.pt").is_file()
    assert json.loads((tmp_path / "scratch" / "configs" / "metadata.json").read_text())["finetune"]["parent"] == "none"


def test_a_real_metal_rod_that_the_shipped_model_misses_is_labelled_metal_after_two_slices(tmp_path):
    """The NIST HAADF tilt series of a metal rod (../shared/data/formats), reconstructed at its 18 nm
    pixels: the shipped model, trained on Pt/alumina at 0.12 nm, labels most of the rod background. Two labelled cross-sections (the rod by
    Otsu's threshold, class 2 metal, the rest background) and 30 short epochs of fine-tuning make it
    metal in the cross-sections never labelled."""
    from skimage.filters import threshold_otsu
    from test_microscope_formats import HAADF_DM3

    from catseg3d.finetune import finetune

    reconstruction = tmp_path / "rod.nii.gz"
    assert main(["reconstruct", str(HAADF_DM3), str(reconstruction), "--tilt-axis", "x", "--iterations", "20"]) == 0
    volume = read_nifti(reconstruction).array
    rod = volume > threshold_otsu(volume)
    assert main(["segment", str(reconstruction), str(tmp_path / "before.nii.gz"), "--axis", "x",
                 "--no-resample"]) == 0
    before = read_nifti(tmp_path / "before.nii.gz").array
    assert (before[rod] == 2).mean() < 0.5  # most of the metal is missed
    labelled = [16, 48]
    labels = np.full(volume.shape, UNLABELLED, np.uint8)
    labels[:, :, labelled] = np.where(rod[:, :, labelled], 2, 0)
    write_nifti(Volume(labels, read_nifti(reconstruction).spacing), tmp_path / "labels.nii.gz")
    result = finetune([reconstruction], [tmp_path / "labels.nii.gz"], tmp_path / "rod_model", minutes=10,
                      overrides={"crop_size": [64, 64], "val_interval": 2, "epochs": 30})
    assert main(["segment", str(reconstruction), str(tmp_path / "after.nii.gz"), "--axis", "x", "--model",
                 str(result.bundle)]) == 0
    after = read_nifti(tmp_path / "after.nii.gz").array
    unseen = np.setdiff1d(np.arange(volume.shape[2]), labelled)
    scores = [dice(labels_[:, :, unseen], np.where(rod, 2, 0)[:, :, unseen], 2) for labels_ in (before, after)]
    assert scores[0] < 0.7 and scores[1] > 0.85 and scores[1] > scores[0] + 0.2, scores


@pytest.mark.parametrize("parent, rate", [("none", 0.0005), ("bundle", 0.0001)])
def test_from_scratch_the_papers_learning_rate_from_a_parent_a_fifth(parent, rate):
    from monai.bundle import ConfigParser

    config = ConfigParser()
    config.read_config([str(REPO / "bundle/configs/train.yaml"), str(REPO / "bundle/configs/finetune.yaml")])
    config["parent_bundle"] = parent
    assert config.get_parsed_content("learning_rate") == rate
