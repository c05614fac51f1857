"""catseg3d segment: geometry, agreement with a direct MONAI computation, streaming, shards, errors."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import REPO, run_catseg3d
from monai.data import MetaTensor
from monai.inferers import SlidingWindowInferer

from catseg3d.cli.main import main
from catseg3d.inference import RemoveSmallComponentsd
from catseg3d.inference.model import load_segmentation_model
from catseg3d.inference.postprocess import remove_small_components
from catseg3d.inference.predictor import Predictor
from catseg3d.inferers import spline_window
from catseg3d.io import Volume, load_datalist, read_nifti, write_nifti
from catseg3d.networks import PaperUNet
from catseg3d.transforms.intensity import IntensityMapping

WINDOW = 16
METADATA = json.loads((REPO / "bundle" / "configs" / "metadata.json").read_text())


def make_bundle(root, spatial_dims=2, in_channels=1, seed=0, spacing_nm=0.12):
    """A bundle folder with a small random PaperUNet (features 4, 8, 16: windows multiple of 4),
    trained at ``spacing_nm`` (one value per axis or one for all; None: the metadata names no pixel
    size, as older bundles, and inputs are never resampled)."""
    torch.manual_seed(seed)
    network = PaperUNet(spatial_dims, in_channels, 3, features=(4, 8, 16))
    with torch.no_grad():  # a bias towards alumina and Pt so that all three classes appear
        network.head.bias.copy_(torch.tensor([0.0, 0.2, 0.1]))
    (root / "models").mkdir(parents=True)
    (root / "configs").mkdir()
    torch.save(network.state_dict(), root / "models" / "model.pt")
    metadata = json.loads(json.dumps(METADATA))
    for tensor in metadata["network_data_format"]["inputs"].values():  # sizes: multiples of 4
        tensor["spatial_shape"] = [f"{network.size_multiple}*n"] * spatial_dims
        tensor.pop("spacing_nm", None)
        if spacing_nm is not None:
            tensor["spacing_nm"] = list(spacing_nm) if np.ndim(spacing_nm) else [spacing_nm] * spatial_dims
    (root / "configs" / "metadata.json").write_text(json.dumps(metadata))
    return root


@pytest.fixture(scope="module")
def bundle2d(tmp_path_factory):
    """No pixel size in its metadata: these tests compare with direct computations on the input's
    grid (resampling to a model's pixel size is tested in test_resampling.py)."""
    return make_bundle(tmp_path_factory.mktemp("bundle2d"), spacing_nm=None)


@pytest.fixture(scope="module")
def volume():
    """A float reconstruction far from [0, 255] (SIRT-like, negative values), anisotropic spacing."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:9, :40, :24]
    blob = ((z - 4) ** 2 / 9 + (y - 20) ** 2 / 150 + (x - 12) ** 2 / 60) < 1
    array = -3000.0 + 2500.0 * blob + 300.0 * rng.standard_normal(blob.shape)
    return Volume(array.astype(np.float32), (0.5, 0.25, 0.12))


def mirrored(array, axes=(1, 2), border=32):
    """``array`` mirrored outward along ``axes`` by ``border`` pixels (at most size - 1), with numpy,
    and the index that crops a result of the same layout back."""
    borders = [min(border, size - 1) if axis in axes else 0 for axis, size in enumerate(array.shape)]
    crop = tuple(slice(b, b + size) for b, size in zip(borders, array.shape))
    return np.pad(array, [(b, b) for b in borders], mode="reflect"), crop


def whole_slice_labels(levels, network):
    """Labels of ``(n, rows, cols)`` slices in [0, 1] run whole: mirrored, then padded to a multiple
    of 4 by edge replication split evenly on both sides (MONAI's padding), and cropped back."""
    slices, crop = mirrored(levels)
    extra = [-size % 4 for size in slices.shape[1:]]
    slices = np.pad(slices, [(0, 0)] + [(e // 2, e - e // 2) for e in extra], mode="edge")
    with torch.no_grad():
        logits = network(torch.as_tensor(slices, dtype=torch.float32).transpose(1, 2)[:, None])
    labels = logits.argmax(1).transpose(1, 2).numpy()
    return labels[:, extra[0] // 2:labels.shape[1] - (extra[0] - extra[0] // 2),
                  extra[1] // 2:labels.shape[2] - (extra[1] - extra[1] // 2)][crop]


def direct_labels(array, network, planes_axes=(0,), window=WINDOW, overlap=0.25, border=32):
    """Labels computed independently: numpy percentile mapping and mirroring, MONAI sliding windows
    per slice."""
    targets = METADATA["intensity_mapping"]["targets"]
    p_low, p_high = np.percentile(array.astype(np.float64), [1, 99])
    levels = 255 * (targets[0] + (array - p_low) * (targets[1] - targets[0]) / (p_high - p_low))
    levels = np.rint(np.clip(levels, 0, 255)) / 255
    inferer = SlidingWindowInferer((window, window), overlap=overlap, mode="gaussian", padding_mode="replicate")
    total = 0
    with torch.no_grad():
        for axis in planes_axes:
            slices, crop = mirrored(np.moveaxis(levels, axis, 0), border=border)
            x = torch.as_tensor(slices, dtype=torch.float32).transpose(1, 2)[:, None]  # (x, y) order
            p = torch.softmax(inferer(x, network), 1).transpose(2, 3).numpy()  # (n, C, rows, cols)
            p = np.moveaxis(np.moveaxis(p, 1, 0)[(slice(None), *crop)], 0, 1)
            total = total + np.moveaxis(p, 0, 1 + axis)
    return total.argmax(0).astype(np.uint8)


def read_labels(path):
    image = nib.load(str(path))
    return np.asarray(image.dataobj).T, image


def run_cli(*args):
    return main(["segment", *map(str, args)])


def test_labels_of_an_nrrd_input_lie_where_its_voxels_lie(bundle2d, tmp_path):
    """NRRD/MHA place their voxels with an origin and directions: the labels keep them (SimpleITK
    maps every index of the labels to the input's physical point)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.random.default_rng(0).integers(0, 255, (3, 32, 24)).astype(np.uint8))
    image.SetSpacing((0.5, 0.25, 1.0))
    image.SetOrigin((5.0, -7.0, 2.0))
    image.SetDirection((0, 1, 0, -1, 0, 0, 0, 0, 1))  # x and y swapped in space, one flipped
    sitk.WriteImage(image, str(tmp_path / "tomo.nrrd"))
    assert run_cli(tmp_path / "tomo.nrrd", tmp_path / "labels.nii.gz", "--model", bundle2d) == 0
    labels = sitk.ReadImage(str(tmp_path / "labels.nii.gz"))
    assert labels.GetSize() == image.GetSize()
    for index in [(0, 0, 0), (23, 0, 0), (0, 31, 0), (0, 0, 2), (23, 31, 2)]:
        np.testing.assert_allclose(labels.TransformIndexToPhysicalPoint(index),
                                   image.TransformIndexToPhysicalPoint(index), atol=1e-5)


def test_labels_equal_direct_monai_computation_and_keep_geometry(bundle2d, volume, tmp_path, capsys):
    source = write_nifti(volume, tmp_path / "tomo.nii.gz")
    out = tmp_path / "labels.nii.gz"
    assert run_cli(source, out, "--model", bundle2d, "--window", WINDOW, "--precision", "float32") == 0
    labels, image = read_labels(out)
    network = load_segmentation_model(bundle2d).network
    expected = direct_labels(volume.array, network)
    assert len(np.unique(expected)) == 3  # the comparison is not trivial
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.uint8
    assert image.shape == volume.array.shape[::-1]
    np.testing.assert_allclose(image.header.get_zooms(), volume.spacing[::-1], rtol=1e-6)
    np.testing.assert_allclose(image.affine, nib.load(str(source)).affine)
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    counts = np.bincount(labels.ravel(), minlength=3) / labels.size
    for name, fraction in zip(("background", "alumina", "pt"), counts):
        assert f"{name} {100 * fraction:.2f} %" in summary


def test_slab_streaming_equals_whole_volume(bundle2d, volume, tmp_path):
    source = write_nifti(volume, tmp_path / "tomo.nii")
    results = []
    for slab in (1, 4, 100):
        out = tmp_path / f"labels_{slab}.nii"
        assert run_cli(source, out, "--model", bundle2d, "--slab", slab, "--precision", "float32") == 0
        results.append(read_labels(out)[0])
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_whole_slice_equals_one_padded_window(bundle2d, volume, tmp_path):
    """Whole-slice mode: each slice once through the network, mirrored by 32 pixels (23 across the 24
    columns: 40 x 24 -> 104 x 70) and padded to a multiple of 4 (104 x 72)."""
    source = write_nifti(volume, tmp_path / "tomo.nii")
    out = tmp_path / "labels.nii"
    assert run_cli(source, out, "--model", bundle2d, "--precision", "float32") == 0
    network = load_segmentation_model(bundle2d).network
    targets = METADATA["intensity_mapping"]["targets"]
    p_low, p_high = np.percentile(volume.array.astype(np.float64), [1, 99])
    levels = np.rint(np.clip(255 * (targets[0] + (volume.array - p_low) * (targets[1] - targets[0])
                                    / (p_high - p_low)), 0, 255)) / 255
    np.testing.assert_array_equal(read_labels(out)[0], whole_slice_labels(levels, network))


def test_nifti_input_keeps_its_own_affine_and_units(bundle2d, volume, tmp_path):
    """A scanner-style header (rotation, origin, micron units) is copied, not rebuilt."""
    affine = np.array([[0.0, -1.2e-4, 0.0, 5.0], [1.2e-4, 0.0, 0.0, -3.0], [0.0, 0.0, 5e-4, 1.0], [0, 0, 0, 1]])
    image = nib.Nifti1Image(volume.array.T, affine)
    image.header.set_xyzt_units(xyz="micron")
    source = tmp_path / "scanner.nii.gz"
    nib.save(image, str(source))
    out, prob = tmp_path / "labels.nii.gz", tmp_path / "prob.nii.gz"
    assert run_cli(source, out, "--model", bundle2d, "--probabilities", prob) == 0
    for path, shape in ((out, volume.array.shape[::-1]), (prob, (*volume.array.shape[::-1], 3))):
        result = nib.load(str(path))
        assert result.shape == shape
        np.testing.assert_allclose(result.affine, image.affine)
        assert result.header.get_xyzt_units()[0] == "micron"


def test_mrc_and_tiff_inputs_keep_geometry(bundle2d, volume, tmp_path):
    import mrcfile
    import tifffile

    levels = np.clip((volume.array + 3000) / 20, 0, 255).astype(np.uint8)
    mrc = tmp_path / "tomo.mrc"
    with mrcfile.new(mrc) as file:
        file.set_data(volume.array)
        file.voxel_size = (1.25, 2.5, 5.0)  # x, y, z in Angstrom
    tif = tmp_path / "tomo.tif"
    tifffile.imwrite(tif, levels)
    for source, extra, spacing in ((mrc, [], (0.5, 0.25, 0.125)), (tif, ["--spacing", 0.3], (0.3,) * 3)):
        out = tmp_path / f"{source.stem}{source.suffix}.nii.gz"
        assert run_cli(source, out, "--model", bundle2d, *extra) == 0
        labels, image = read_labels(out)
        assert labels.shape == volume.array.shape
        np.testing.assert_allclose(image.header.get_zooms(), spacing[::-1], rtol=1e-6)


def test_mrc_input_gives_the_labels_of_the_same_array_in_nifti(bundle2d, volume, tmp_path):
    import mrcfile

    mrc, nii = tmp_path / "tomo.mrc", tmp_path / "tomo.nii.gz"
    with mrcfile.new(mrc) as file:
        file.set_data(volume.array)
        file.voxel_size = tuple(10 * s for s in volume.spacing[::-1])  # x, y, z in Angstrom
    write_nifti(volume, nii)
    labels = []
    for source in (mrc, nii):
        out = tmp_path / f"{source.name}.labels.nii.gz"
        assert run_cli(source, out, "--model", bundle2d, "--precision", "float32") == 0
        labels.append(read_labels(out)[0])
    assert len(np.unique(labels[1])) == 3
    np.testing.assert_array_equal(labels[0], labels[1])


@pytest.mark.parametrize("resampled", [False, True])
@pytest.mark.parametrize("suffix", [".nii.gz", ".mrc"])
def test_streaming_never_reads_more_than_a_slab(bundle2d, volume, tmp_path, tmp_path_factory, monkeypatch, suffix,
                                                resampled):
    """Every read of a NIfTI or MRC input asks for at most one slab of slices, never the whole volume,
    also where each slice is resampled to the model's pixel size (a model trained at 0.25 nm: the
    slices' 0.12 nm x axis goes to 0.25 nm and back)."""
    import mrcfile

    from catseg3d.io.slabs import SlabReader

    source = tmp_path / f"tomo{suffix}"
    if suffix == ".mrc":
        with mrcfile.new(source) as file:
            file.set_data(volume.array)
            file.voxel_size = 5.0
    else:
        write_nifti(volume, source)
    reads = []
    original = SlabReader.read

    def counted(self, start, stop):
        reads.append(stop - start)
        return original(self, start, stop)

    monkeypatch.setattr(SlabReader, "read", counted)
    model = make_bundle(tmp_path_factory.mktemp("bundle025"), spacing_nm=0.25) if resampled else bundle2d
    result = run_catseg3d("segment", source, tmp_path / "labels.nii.gz", "--model", model, "--slab", 2)
    assert result.returncode == 0, result.stderr
    assert ("resampl" in result.stdout + result.stderr) == resampled
    assert volume.array.shape[0] == 9 and max(reads) <= 2 and sum(reads) >= 9
    assert read_labels(tmp_path / "labels.nii.gz")[0].shape == volume.array.shape


def test_two_process_torchrun_equals_one_process(bundle2d, volume, tmp_path):
    source = write_nifti(volume, tmp_path / "tomo.nii.gz")
    outputs = {}
    for processes in (1, 2):
        out, prob = tmp_path / f"labels_{processes}.nii.gz", tmp_path / f"prob_{processes}.nii.gz"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   "-m", "catseg3d", "segment", str(source), str(out), "--model", str(bundle2d),
                   "--probabilities", str(prob), "--window", str(WINDOW), "--precision", "float32"]
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.count("voxels in") == 1  # one summary line, from rank 0
        outputs[processes] = (read_labels(out)[0], np.asarray(nib.load(str(prob)).dataobj))
    np.testing.assert_array_equal(outputs[1][0], outputs[2][0])
    np.testing.assert_array_equal(outputs[1][1], outputs[2][1])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no parts left


def test_probabilities_are_a_4d_map_consistent_with_labels(bundle2d, volume, tmp_path):
    source = write_nifti(volume, tmp_path / "tomo.nii")
    out, prob = tmp_path / "labels.nii.gz", tmp_path / "prob.nii.gz"
    assert run_cli(source, out, "--model", bundle2d, "--probabilities", prob) == 0
    image = nib.load(str(prob))
    assert image.shape == (*volume.array.shape[::-1], 3)
    p = image.get_fdata()
    np.testing.assert_allclose(p.sum(-1), 1, atol=2 / 255)
    labels = read_labels(out)[0].T
    agree = p.argmax(-1) == labels
    assert agree.mean() > 0.9  # where they differ, rounding to 1/255 made a tie:
    assert np.all(p.max(-1)[~agree] - np.take_along_axis(p, labels[..., None], -1)[..., 0][~agree] <= 1 / 255 + 1e-9)


def test_tri_planar_fusion_averages_three_planes(bundle2d, volume, tmp_path):
    source = write_nifti(volume, tmp_path / "tomo.nii")
    out = tmp_path / "labels.nii"
    assert run_cli(source, out, "--model", bundle2d, "--planes", "xy,xz,yz", "--window", WINDOW,
                   "--precision", "float32") == 0
    network = load_segmentation_model(bundle2d).network
    expected = direct_labels(volume.array, network, planes_axes=(0, 1, 2))
    labels = read_labels(out)[0]
    assert (labels != direct_labels(volume.array, network)).any()  # fusion changes something
    assert np.mean(labels == expected) > 0.9999  # float32 sums in another order


def test_axis_y_runs_the_model_on_xz_slices(bundle2d, volume, tmp_path):
    source = write_nifti(volume, tmp_path / "tomo.nii")
    out = tmp_path / "labels.nii"
    assert run_cli(source, out, "--model", bundle2d, "--axis", "y", "--window", WINDOW, "--precision", "float32") == 0
    network = load_segmentation_model(bundle2d).network
    np.testing.assert_array_equal(read_labels(out)[0], direct_labels(volume.array, network, planes_axes=(1,)))


def test_flip_tta_is_the_mean_over_flips(bundle2d, volume):
    model = load_segmentation_model(bundle2d)
    images = np.random.default_rng(1).integers(0, 256, (2, 40, 24), dtype=np.uint8)
    plain = Predictor(model, window=None, precision="float32")
    tta = Predictor(model, window=None, tta=True, precision="float32")
    expected = np.zeros((2, 3, 40, 24))
    for flips in ((), (1,), (2,), (1, 2)):
        flipped = np.flip(images, flips) if flips else images
        p = plain(flipped.copy())
        expected += np.flip(p, tuple(f + 1 for f in flips)) if flips else p
    np.testing.assert_allclose(tta(images), expected / 4, atol=1e-5)
    assert not np.allclose(tta(images), plain(images), atol=1e-3)


def test_sw_batch_size_batches_whole_slices_with_the_same_result(bundle2d):
    model = load_segmentation_model(bundle2d)
    images = np.random.default_rng(2).integers(0, 256, (4, 40, 24), dtype=np.uint8)
    calls = []
    hook = model.network.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    try:
        one = Predictor(model, window=None, precision="float32")(images)
        one_calls, calls[:] = list(calls), []
        four = Predictor(model, window=None, precision="float32", sw_batch_size=4)(images)
    finally:
        hook.remove()
    assert one_calls == [1, 1, 1, 1] and calls == [4]
    np.testing.assert_allclose(four, one, atol=1e-5)


def test_spline_window_is_the_quadratic_spline_and_blends_to_a_constant():
    """The window of Smoothly-Blend-Image-Patches, written out: over a triangle ``s`` rising from
    1/32 to 31/32 at the pixel centres, ``2 s^2`` in the outer quarters and ``1 - 2 (1 - s)^2`` in
    the middle half, scaled to mean 1. Windows shifted by half their size then sum to a constant
    exactly: the property the paper's blending uses."""
    n = 32
    s = np.concatenate([np.arange(1, n, 2), np.arange(n - 1, 0, -2)]) / n
    outer = np.r_[np.ones(n // 4, bool), np.zeros(n // 2, bool), np.ones(n // 4, bool)]
    expected = np.where(outer, 2 * s ** 2, 1 - 2 * (1 - s) ** 2)
    w = spline_window(n)
    np.testing.assert_allclose(w, expected / expected.mean(), rtol=1e-12)
    np.testing.assert_allclose(w[:16] + w[16:], np.full(16, 2.0), rtol=1e-12)  # 1 before the scaling to mean 1 (x 2)


def test_spline_blending_equals_a_hand_made_weighted_mean_of_windows():
    """A network that answers each window with its own mean makes every window's contribution
    visible: the blend at a pixel is the spline-weighted mean of the windows covering it."""
    from catseg3d.inferers import SplineWindowInferer

    image = torch.from_numpy(np.random.default_rng(3).uniform(size=(32, 32)).astype(np.float32))

    def window_mean(x):  # (B, 1, 16, 16) -> each window's mean everywhere in it
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()

    blended = SplineWindowInferer((16, 16), sw_batch_size=1, overlap=0.5)(image[None, None], window_mean)[0, 0]
    weights = np.multiply.outer(spline_window(16), spline_window(16))
    total, norm = np.zeros((32, 32)), np.zeros((32, 32))
    for y0 in (0, 8, 16):  # windows of 16 with overlap 0.5 on 32 pixels start at 0, 8 and 16
        for x0 in (0, 8, 16):
            total[y0:y0 + 16, x0:x0 + 16] += weights * float(image[y0:y0 + 16, x0:x0 + 16].mean())
            norm[y0:y0 + 16, x0:x0 + 16] += weights
    np.testing.assert_allclose(blended.numpy(), total / norm, rtol=1e-5, atol=1e-6)
    gaussian = SlidingWindowInferer((16, 16), sw_batch_size=1, overlap=0.5, mode="gaussian")
    assert not np.allclose(gaussian(image[None, None], window_mean)[0, 0].numpy(), total / norm, atol=1e-4)


def test_spline_blending_and_windows_run(bundle2d, volume, tmp_path):
    source = write_nifti(volume, tmp_path / "tomo.nii")
    outs = []
    for blend in ("gaussian", "spline"):
        out = tmp_path / f"{blend}.nii"
        assert run_cli(source, out, "--model", bundle2d, "--window", WINDOW, "--overlap", 0.5, "--blend", blend) == 0
        outs.append(read_labels(out)[0])
    assert 0.8 < np.mean(outs[0] == outs[1]) < 1.0  # another blending, mostly the same labels


def test_uint8_input_uses_the_training_range(bundle2d, tmp_path):
    """8-bit input is scaled by 1/255 like the training slices (fixed mode), not by percentiles."""
    array = np.random.default_rng(2).integers(40, 90, (3, 24, 16), dtype=np.uint8)
    source = write_nifti(Volume(array, (0.12,) * 3), tmp_path / "u8.nii")
    out = tmp_path / "labels.nii"
    assert run_cli(source, out, "--model", bundle2d, "--precision", "float32") == 0
    network = load_segmentation_model(bundle2d).network
    np.testing.assert_array_equal(read_labels(out)[0], whole_slice_labels(array / 255, network))


def specks():
    """(z, y, x) labels with three components under 3 voxels, and the labels once they are cleaned."""
    labels = np.zeros((12, 12, 12), dtype=np.uint8)
    labels[:, :, 6:] = 1  # alumina half
    labels[2:6, 2:6, 6:10] = 2  # a 64-voxel Pt particle on the alumina: kept
    labels[9, 9, 9] = 2  # a 1-voxel Pt speck inside alumina: becomes alumina
    labels[9, 9, 1] = 2  # a speck in the background: becomes background
    labels[1, 1, 1:3] = 1  # a 2-voxel alumina speck in the background: becomes background
    expected = labels.copy()
    expected[9, 9, 9], expected[9, 9, 1], expected[1, 1, 1:3] = 1, 0, 0
    return labels, expected


def test_min_size_relabels_small_components_by_their_surroundings():
    labels, expected = specks()
    assert remove_small_components(labels, 3) == 3
    np.testing.assert_array_equal(labels, expected)


def test_remove_small_components_dict_transform_keeps_type_and_metadata():
    """The post-processing step of the evaluating workflow: a channel-first float MetaTensor (what
    AsDiscreted's argmax gives) comes back cleaned, as float, with its affine; other keys untouched."""
    labels, expected = specks()
    pred = MetaTensor(torch.as_tensor(labels[None], dtype=torch.float32), affine=torch.diag(
        torch.tensor([0.2, 0.12, 0.12, 1.0], dtype=torch.float64)))
    out = RemoveSmallComponentsd("pred", min_size=3)({"pred": pred, "label": pred})
    assert isinstance(out["pred"], MetaTensor) and out["pred"].dtype == torch.float32 and out["pred"].shape == pred.shape
    np.testing.assert_array_equal(out["pred"][0].numpy(), expected)
    torch.testing.assert_close(out["pred"].affine, pred.affine)
    assert out["label"] is pred and np.array_equal(pred[0].numpy(), labels)  # the input is not changed
    assert RemoveSmallComponentsd("pred", min_size=1)({"pred": pred})["pred"] is pred  # 0 or 1: nothing to do
    with pytest.raises(ValueError, match="'pred' holds 2 channels"):
        RemoveSmallComponentsd("pred", min_size=3)({"pred": torch.cat([pred, pred])})


def test_min_size_option(bundle2d, volume, tmp_path):
    source = write_nifti(volume, tmp_path / "tomo.nii")
    plain, cleaned = tmp_path / "plain.nii", tmp_path / "cleaned.nii"
    assert run_cli(source, plain, "--model", bundle2d) == 0
    assert run_cli(source, cleaned, "--model", bundle2d, "--min-size", 30) == 0
    expected = read_labels(plain)[0].copy()
    assert remove_small_components(expected, 30) > 0  # the option has something to do
    np.testing.assert_array_equal(read_labels(cleaned)[0], expected)


def test_3d_model_runs_volume_windows(tmp_path):
    bundle = make_bundle(tmp_path / "bundle3d", spatial_dims=3, spacing_nm=(0.2, 0.12, 0.12))
    rng = np.random.default_rng(3)
    array = rng.normal(size=(16, 20, 12)).astype(np.float32)
    source = write_nifti(Volume(array, (0.2, 0.12, 0.12)), tmp_path / "vol.nii")
    out = tmp_path / "labels.nii"
    assert run_cli(source, out, "--model", bundle, "--window", 16, "--precision", "float32") == 0
    targets = METADATA["intensity_mapping"]["targets"]
    p_low, p_high = np.percentile(array.astype(np.float64), [1, 99])
    levels = np.rint(np.clip(255 * (targets[0] + (array - p_low) * (targets[1] - targets[0]) / (p_high - p_low)),
                             0, 255)) / 255
    inferer = SlidingWindowInferer((16, 16, 16), overlap=0.25, mode="gaussian", padding_mode="replicate")
    network = load_segmentation_model(bundle).network
    block, crop = mirrored(levels, axes=(1, 2))  # y and x by 19 and 11 voxels; blocks keep their z
    with torch.no_grad():  # one block: the whole volume fits in the window depth
        logits = inferer(torch.as_tensor(block, dtype=torch.float32).permute(2, 1, 0)[None, None], network)
    expected = logits.argmax(1)[0].permute(2, 1, 0).numpy()[crop]
    labels, image = read_labels(out)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(image.header.get_zooms(), (0.12, 0.12, 0.2), rtol=1e-6)
    deep = write_nifti(Volume(np.concatenate([array] * 3), (0.2, 0.12, 0.12)), tmp_path / "deep.nii")
    assert run_cli(deep, tmp_path / "deep_labels.nii", "--model", bundle, "--window", 16) == 0  # blocks + halo
    assert read_labels(tmp_path / "deep_labels.nii")[0].shape == (48, 20, 12)


def test_3d_model_under_torchrun_equals_one_process(tmp_path):
    """Shards are whole blocks, so every block sees the context it has in one process."""
    bundle = make_bundle(tmp_path / "bundle3d", spatial_dims=3, spacing_nm=(0.2, 0.12, 0.12))
    array = np.random.default_rng(7).normal(size=(40, 20, 12)).astype(np.float32)
    source = write_nifti(Volume(array, (0.2, 0.12, 0.12)), tmp_path / "vol.nii.gz")
    outputs = []
    for processes in (1, 2):
        out = tmp_path / f"labels_{processes}.nii.gz"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   "-m", "catseg3d", "segment", str(source), str(out), "--model", str(bundle), "--window", "16",
                   "--precision", "float32"]
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(read_labels(out)[0])
    assert len(np.unique(outputs[0])) > 1
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_uint8_file_with_a_scale_is_mapped_as_the_floats_it_holds(bundle2d, volume, tmp_path):
    """A uint8 NIfTI with scl_slope holds floats: percentile mapping, like the same floats stored plainly."""
    levels = np.clip((volume.array + 3000) / 20, 0, 255).astype(np.uint8)
    scaled = nib.Nifti1Image(levels.T, np.diag([0.12, 0.25, 0.5, 1]))
    scaled.header.set_slope_inter(1 / 255, 0)
    nib.save(scaled, str(tmp_path / "scaled.nii"))
    plain = write_nifti(Volume(levels.astype(np.float32) / 255, (0.5, 0.25, 0.12)), tmp_path / "plain.nii")
    outs = []
    for source in (tmp_path / "scaled.nii", plain):
        out = tmp_path / f"labels_{source.stem}.nii"
        assert run_cli(source, out, "--model", bundle2d, "--precision", "float32") == 0
        outs.append(read_labels(out)[0])
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("options, problem", [
    (["--slab", "0"], "slab must be at least 1"), (["--sw-batch-size", "0"], "must be at least 1"),
    (["--spacing", "0"], "spacing must be positive"), (["--window", "18"], "window must be a positive multiple"),
    (["--overlap", "1"], "overlap must be in [0, 1)"), (["--planes", "xy,zz"], "planes must be among"),
    (["--border", "-1"], "border must be non-negative"),
])
def test_bad_options_are_one_line_and_no_output(bundle2d, volume, tmp_path, capsys, options, problem):
    source = write_nifti(volume, tmp_path / "tomo.nii")
    out = tmp_path / "labels.nii.gz"
    assert run_cli(source, out, "--model", bundle2d, *options) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and problem in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tomo.nii"]


@pytest.mark.parametrize("full_at", ["labels.nii.gz", "prob.nii.gz"])
def test_a_failed_write_leaves_neither_labels_nor_probabilities(bundle2d, volume, tmp_path, capsys, monkeypatch,
                                                                 full_at):
    """The disk fills while one of the two outputs is written: one line, and neither file."""
    segment_module = importlib.import_module("catseg3d.inference.segment")  # the package's name is a function
    source = write_nifti(volume, tmp_path / "tomo.nii")
    out, prob = tmp_path / "labels.nii.gz", tmp_path / "prob.nii.gz"
    write = segment_module.write_nifti_from_parts

    def full_disk(path, *args, **kwargs):
        if Path(path).name == full_at:
            raise OSError(28, "No space left on device", str(path))
        return write(path, *args, **kwargs)

    monkeypatch.setattr(segment_module, "write_nifti_from_parts", full_disk)
    assert run_cli(source, out, "--model", bundle2d, "--probabilities", prob) == 2
    error = capsys.readouterr().err.strip()  # after the progress bar
    assert "Traceback" not in error and error.splitlines()[-1].startswith("catseg3d: error: ")
    assert "No space left on device" in error.splitlines()[-1] and full_at in error.splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tomo.nii"]


def test_probabilities_may_not_overwrite_the_labels(bundle2d, volume, tmp_path, capsys):
    source = write_nifti(volume, tmp_path / "tomo.nii")
    out = tmp_path / "labels.nii.gz"
    assert run_cli(source, out, "--model", bundle2d, "--probabilities", out) == 2
    assert "need a file of their own" in capsys.readouterr().err
    assert not out.exists()


def test_intensity_mapping_in_metadata_is_that_of_the_training_patches(genc_prepared):
    images = (read_nifti(item["image"]).array for item in load_datalist(genc_prepared, "training"))
    fitted = IntensityMapping.fit(images, tuple(METADATA["intensity_mapping"]["fixed_range"]),
                                  tuple(METADATA["intensity_mapping"]["percentiles"]))
    np.testing.assert_allclose(fitted.targets, METADATA["intensity_mapping"]["targets"], rtol=1e-12)


def four_d(path):
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.float32), np.eye(4)), str(path))
    return path


def empty(path):
    nib.save(nib.Nifti1Image(np.zeros((4, 0, 3), np.float32), np.diag([0.5, 0.5, 0.5, 1.0])), str(path))
    return path


def constant(path):
    return write_nifti(Volume(np.full((3, 8, 8), 7.5, np.float32), (1.0, 1.0, 1.0)), path)


@pytest.mark.parametrize("make_input, problem", [
    (four_d, "expected a 2D or 3D image"), (empty, "empty image"), (constant, "no contrast"),
])
def test_bad_input_is_one_line_and_no_output(bundle2d, tmp_path, capsys, make_input, problem):
    source = make_input(tmp_path / "bad.nii")
    out = tmp_path / "labels.nii.gz"
    assert run_cli(source, out, "--model", bundle2d) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(source) in error and problem in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nii"]


def garbage_model(root):
    bundle = make_bundle(root)
    (bundle / "models" / "model.pt").write_bytes(b"not a checkpoint" * 10)
    return bundle, "cannot load model weights"


def missing_model(root):
    bundle = make_bundle(root)
    (bundle / "models" / "model.pt").unlink()
    return bundle, "no such model file"


def two_channel_model(root):
    return make_bundle(root, in_channels=2), "takes 2 input channels"


def foreign_model(root):
    bundle = make_bundle(root)
    torch.save({"conv.weight": torch.zeros(3, 1, 3, 3)}, bundle / "models" / "model.pt")
    return bundle, "not the weights of a catseg3d PaperUNet"


def no_metadata(root):
    bundle = make_bundle(root)
    shutil.rmtree(bundle / "configs")
    return bundle / "models" / "model.pt", "no bundle metadata"


@pytest.mark.parametrize("make_model", [garbage_model, missing_model, two_channel_model, foreign_model, no_metadata])
def test_bad_model_is_one_line_and_no_output(volume, tmp_path, capsys, make_model):
    model, problem = make_model(tmp_path / "bundle")
    source = write_nifti(volume, tmp_path / "tomo.nii")
    out = tmp_path / "out" / "labels.nii.gz"
    out.parent.mkdir()
    assert run_cli(source, out, "--model", model) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "model.pt" in error and problem in error
    assert list(out.parent.iterdir()) == []


def test_tilt_series_points_at_reconstruct(bundle2d, tmp_path, capsys):
    from test_microscope_formats import HAADF_DM3

    out = tmp_path / "labels.nii.gz"
    assert run_cli(HAADF_DM3, out, "--model", bundle2d) == 2
    assert "catseg3d reconstruct" in capsys.readouterr().err
    assert not out.exists()


def test_a_terminated_segment_leaves_nothing_behind(bundle2d, tmp_path):
    """SIGTERM (kill, timeout, a batch scheduler) mid-way: exit 130, one line on stderr, no output
    and no part files (as for Ctrl-C)."""
    import signal
    import time

    rng = np.random.default_rng(0)
    source = write_nifti(Volume(rng.random((400, 128, 128), dtype=np.float32), (0.12, 0.12, 0.12)),
                         tmp_path / "tomo.nii")
    out = tmp_path / "labels.nii.gz"
    process = subprocess.Popen([sys.executable, "-m", "catseg3d", "segment", str(source), str(out), "--model",
                                str(bundle2d), "--slab", "1", "--tta", "--probabilities", str(tmp_path / "p.nii.gz")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".labels.nii.gz.*.parts/labels.0000")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    time.sleep(0.5)  # well into the slabs
    assert process.poll() is None, "segment finished before it could be interrupted: give it more slices"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "catseg3d: segment: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tomo.nii"]  # no labels, probabilities or parts


def test_an_output_that_is_the_input_is_refused(bundle2d, volume, tmp_path, capsys):
    source = write_nifti(volume, tmp_path / "tomo.nii.gz")
    before = source.read_bytes()
    (tmp_path / "link").mkdir()
    for output in (source, tmp_path / "link" / ".." / "tomo.nii.gz"):
        for command in (["segment", str(source), str(output), "--model", str(bundle2d)],
                        ["segment", str(source), str(tmp_path / "l.nii.gz"), "--model", str(bundle2d),
                         "--probabilities", str(output)],
                        ["convert", str(source), str(output)],
                        ["label-slices", str(source), str(output), "--z", "1"]):
            assert main(command) == 2
            error = capsys.readouterr().err
            assert error.count("\n") == 1 and "is also an input" in error, (command, error)
    assert source.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["link", "tomo.nii.gz"]
