"""The embedded simulated dataset, the default training run on it, and the volumetric variant."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from scipy import ndimage
import pytest
import torch
from conftest import REPO, run_catseg3d, run_monai_bundle

from catseg3d.inference.model import read_metadata
from catseg3d.io import load_datalist, read_nifti
from catseg3d.networks import PaperUNet
from catseg3d.simulation import embedded_dataset
from catseg3d.transforms.intensity import IntensityMapping, sample_indices, to_uint8

METADATA = REPO / "bundle" / "configs" / "metadata.json"
# a small embedded dataset: 2 training volumes + 1 validation volume of 64^3 voxels at 0.24 nm
SMALL = {"volumes": 3, "validation_volumes": 1, "slices_per_volume": 3, "shape": [64, 64, 64], "spacing_nm": 0.24}
SMALL_OVERRIDES = [item for key, value in SMALL.items() for item in (f"--simulation#{key}", json.dumps(value))]
CONFIGS_3D = str(["bundle/configs/train.yaml", "bundle/configs/train_3d.yaml"])


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return embedded_dataset(tmp_path_factory.mktemp("embedded"), METADATA, **SMALL)


def run(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "monai.bundle", *map(str, args)], cwd=REPO,
                            capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_embedded_dataset_is_deterministic_cached_and_consistent(simulated, tmp_path):
    folder = simulated
    again = embedded_dataset(tmp_path / "again", METADATA, **SMALL)
    slices = load_datalist(folder, "training")
    assert len(slices) == 2 * 3 and len(load_datalist(folder, "validation")) == 3
    for item, other in zip(slices, load_datalist(again, "training")):
        assert np.array_equal(read_nifti(item["image"]).array, read_nifti(other["image"]).array)
        assert np.array_equal(read_nifti(item["label"]).array, read_nifti(other["label"]).array)
    # a second call with the same parameters reuses the folder untouched
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "again").rglob("*") if p.is_file()}
    embedded_dataset(tmp_path / "again", METADATA, **SMALL)
    assert stamp == {p: p.stat().st_mtime_ns for p in (tmp_path / "again").rglob("*") if p.is_file()}
    # each volume's 8-bit image is its reconstruction mapped as catseg3d segment maps raw input
    mapping = IntensityMapping.from_metadata(json.loads(METADATA.read_text()))
    volumes = load_datalist(folder, "training", "datalist_3d.json")
    assert len(volumes) == 2
    for item in volumes:
        recon = read_nifti(item["image"].replace("image.nii.gz", "reconstruction.nii.gz")).array
        window = mapping.window("percentile", recon.dtype, [recon[sample_indices(recon.shape[0])]])
        image = read_nifti(item["image"])
        assert image.array.dtype == np.uint8 and image.spacing == (0.24,) * 3
        assert np.array_equal(image.array, to_uint8(recon, window))
    # a 2D slice is the x-y plane of its volume at one z, transposed to (x, y) so that the tilt axis
    # runs along axis 1 as in the real patches, labels included
    first = slices[0]
    z = int(first["image"].split("_z")[1][:3])
    volume_image = read_nifti(volumes[0]["image"]).array
    volume_label = read_nifti(volumes[0]["label"]).array
    assert np.array_equal(read_nifti(first["image"]).array, volume_image[z].T)
    assert np.array_equal(read_nifti(first["label"]).array, volume_label[z].T)
    assert all((read_nifti(item["label"]).array > 0).any() for item in slices)



def test_embedded_dataset_grows_labels_leaves_pt_tails_unlabelled_takes_overrides_and_orientation(tmp_path):
    from catseg3d.simulation.dataset import grow_labels, slice_label

    folder = embedded_dataset(tmp_path, METADATA, **SMALL, ambiguous_pt_nm=0.5, label_margin_nm=0.35,
                              slice_tilt_axis=0, imaging={"z_exponent": 1.3})
    manifest = json.loads((tmp_path / "dataset.json").read_text())
    assert manifest["ambiguous_pt_nm"] == 0.5 and manifest["imaging"]["z_exponent"] == 1.3
    assert manifest["label_margin_nm"] == 0.35 and manifest["slices"] == "xy, tilt axis along axis 0"
    volumes = load_datalist(folder, "training", "datalist_3d.json") + load_datalist(folder, "validation", "datalist_3d.json")
    unlabelled = {"training": 0, "validation": 0}
    grown = 0
    for split in unlabelled:
        for item in load_datalist(folder, split):
            volume = next(v for v in volumes if v["image"].split("/")[-2] in item["image"])
            volume_label = read_nifti(volume["label"]).array
            z = int(item["image"].split("_z")[1][:3])
            label = read_nifti(item["label"]).array  # (y, x) as cut: the tilt axis along axis 0
            assert np.array_equal(read_nifti(item["image"]).array, read_nifti(volume["image"]).array[z])
            # both splits grow by 0.35 nm in the slice's plane (1.46 pixels of 0.24 nm: the eight neighbours),
            # computed here by dilation: Pt into all but Pt, then alumina into the background left
            exact = volume_label[z]
            expected = exact.copy()
            expected[ndimage.binary_dilation(exact == 2, np.ones((3, 3), bool)) & (expected != 2)] = 2
            expected[ndimage.binary_dilation(expected == 1, np.ones((3, 3), bool)) & (expected == 0)] = 1
            assert np.array_equal(expected, grow_labels(exact, 0.35, (0.24, 0.24)))
            grown += int((expected != exact).sum())
            if split == "training":  # validation leaves no Pt tails unlabelled
                near_pt = (volume_label[max(z - 2, 0):z + 3] == 2).any(axis=0) & (expected != 2)
                expected[near_pt] = 255  # 0.5 nm = 2 voxels of 0.24 nm
                assert np.array_equal(label, slice_label(volume_label, z, 2, margin_nm=0.35, spacing_nm=(0.24, 0.24)))
            assert np.array_equal(label, expected)
            unlabelled[split] += int((label == 255).sum())
    assert unlabelled["training"] > 0 and unlabelled["validation"] == 0 and grown > 0
    with pytest.raises(ValueError, match="unknown imaging"):
        embedded_dataset(tmp_path / "bad", METADATA, **SMALL, imaging={"zexponent": 1.3})
    with pytest.raises(ValueError, match="slice_tilt_axis"):
        embedded_dataset(tmp_path / "bad", METADATA, **SMALL, slice_tilt_axis=2)


def test_default_training_runs_on_the_embedded_dataset_and_keeps_the_shipped_model(tmp_path):
    """The README's main command (no dataset_dir), shortened to one epoch on a small simulation."""
    shipped = (REPO / "bundle" / "models" / "model.pt").read_bytes()
    run("run", "training", "--config_file", "bundle/configs/train.yaml", "--bundle_root", tmp_path,
        "--simulated_dir", tmp_path / "simulated", "--epochs", 1, *SMALL_OVERRIDES)
    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    state = torch.load(models / "model.pt", weights_only=True)
    PaperUNet().load_state_dict(state)
    assert (tmp_path / "simulated" / "dataset.json").is_file()
    assert (REPO / "bundle" / "models" / "model.pt").read_bytes() == shipped


def test_3d_training_writes_a_3d_model_and_evaluates_in_nm(simulated, tmp_path):
    common = ["--bundle_root", tmp_path, "--dataset_dir", simulated, "--patch_size", "[32, 32, 32]",
              "--patches_per_volume", 2]
    run("run", "training", "--config_file", CONFIGS_3D, *common, "--epochs", 1, "--val_interval", 1)
    model = tmp_path / "models_3d" / "model.pt"
    state = torch.load(model, weights_only=True)
    assert state["head.weight"].ndim == 5  # a 3D network: (classes, features, 1, 1, 1)
    network = PaperUNet(spatial_dims=3, features=(16, 32, 64, 128, 256))
    network.load_state_dict(state)
    # the run records its training volumes' voxel size (0.24 nm) for the 3D network, not the shipped 0.12
    metadata = read_metadata(tmp_path / "configs" / "metadata.json", spatial_dims=3)
    assert metadata["network_data_format"]["inputs"]["image"]["spacing_nm"] == [0.24] * 3
    assert json.loads((tmp_path / "configs" / "metadata.json").read_text())[
        "network_data_format"]["inputs"]["image"]["spacing_nm"] == [0.12, 0.12]  # the 2D entry untouched
    scored = run_monai_bundle("run", "evaluating", "--config_file",
                              str(["bundle/configs/train.yaml", "bundle/configs/train_3d.yaml",
                                   "bundle/configs/evaluate.yaml"]),
                              *common, "--eval_dir", tmp_path / "eval", "--border", 0)  # windows as below, no border
    assert scored.returncode == 0, scored.stderr[-3000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    per_image = (tmp_path / "eval" / "per_image.csv").read_text().splitlines()
    assert len(per_image) == 1 + 1  # header and the one validation volume
    assert per_image[1].startswith("labels.nii.gz,")
    # the report's DSC equals one computed here from the model's own sliding-window prediction
    from monai.inferers import SlidingWindowInferer

    item = load_datalist(simulated, "validation", "datalist_3d.json")[0]
    image = read_nifti(item["image"]).array.astype(np.float32) / 255
    label = read_nifti(item["label"]).array
    network.eval()
    with torch.no_grad():
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 1, 0)))[None, None]
        logits = SlidingWindowInferer((32, 32, 32), 2, 0.25, mode="gaussian")(tensor, network)
    pred = logits[0].argmax(0).numpy().transpose(2, 1, 0)
    for c, name in ((1, "alumina"), (2, "pt")):
        p, t = pred == c, label == c
        dice = 2 * (p & t).sum() / (p.sum() + t.sum()) if p.sum() + t.sum() else np.nan
        reported = report["metrics"]["dsc"][name]["mean"]
        if np.isfinite(dice):
            assert reported == pytest.approx(dice, abs=0.02)  # bfloat16 training, float32 scoring
    assert report["spacing_nm"] and set(report["rhd_nm"]) == {"alumina", "pt"}
    # the run folder is a bundle that segment takes: its models_3d/model.pt, as when the file is named
    by_folder, by_file = tmp_path / "by_folder.nii.gz", tmp_path / "by_file.nii.gz"
    for model, out in ((tmp_path, by_folder), (model, by_file)):
        result = run_catseg3d("segment", item["image"], out, "--model", model, "--window", 32, "--precision", "float32",
                              "--border", 0)
        assert result.returncode == 0, result.stderr
        assert "resampling" not in result.stderr  # the volume is at the model's voxel size
    assert read_nifti(by_folder).array.shape == label.shape
    np.testing.assert_array_equal(read_nifti(by_folder).array, read_nifti(by_file).array)


def test_verify_net_in_out_3d():
    """The 3D network against metadata_3d.json over metadata.json (the 2D check runs as a command in
    test_bundle_share); the 2D metadata's 16-pixel multiples do not fit the 3D network's four steps."""
    base = ["verify_net_in_out", "network_def", "--device", "cpu", "--n", 2]
    metadata_3d = str([str(METADATA), str(METADATA.with_name("metadata_3d.json"))])
    three_d = run_monai_bundle(*base, "--meta_file", metadata_3d, "--config_file", CONFIGS_3D)
    assert three_d.returncode == 0, three_d.stderr[-3000:]
    mismatch = run_monai_bundle(*base, "--meta_file", METADATA, "--config_file", CONFIGS_3D)
    assert mismatch.returncode != 0 and "multiples of 16" in mismatch.stderr


def test_two_process_3d_training_is_scored_like_one_process(tmp_path):
    """multi_gpu_train.yaml over train_3d.yaml: a real 2-process torchrun (gloo), then one process."""
    import re

    data = embedded_dataset(tmp_path / "data", METADATA, **{**SMALL, "volumes": 4, "validation_volumes": 2})
    common = ["--bundle_root", tmp_path / "bundle", "--dataset_dir", data, "--patch_size", "[32, 32, 32]",
              "--autocast", "false"]
    configs = str(["bundle/configs/train.yaml", "bundle/configs/train_3d.yaml", "bundle/configs/multi_gpu_train.yaml"])
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
               "monai.bundle", "run", "training", "--config_file", configs, *map(str, common),
               "--epochs", "1", "--val_interval", "1", "--batch_size", "1"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    best = re.compile(r"Got new best metric of val_mean_dice: ([0-9.]+)")
    assert len(best.findall(log)) == 1  # rank 0 alone logs
    state = torch.load(tmp_path / "bundle" / "models_3d" / "model.pt", weights_only=True)
    assert state["head.weight"].ndim == 5 and not any(k.startswith("module.") for k in state)
    single = run("run", "evaluating", "--config_file",
                 str(["bundle/configs/train.yaml", "bundle/configs/train_3d.yaml", "bundle/configs/evaluate.yaml"]),
                 *common, "--eval_dir", tmp_path / "eval", "--border", 0)  # the training's validation inferer
    trained, evaluated = float(best.search(log).group(1)), float(best.search(single.stdout + single.stderr).group(1))
    assert abs(trained - evaluated) <= 1e-6 * max(1.0, abs(evaluated)), (trained, evaluated)
