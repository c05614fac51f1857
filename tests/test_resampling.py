"""Pixel size honoured: inputs are run at the model's pixel size and the probabilities brought back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.transform import resize
from test_segment import make_bundle

from catseg3d.cli.main import main
from catseg3d.inference.model import load_segmentation_model
from catseg3d.inference.predictor import Predictor
from catseg3d.inferers import ResamplingInferer, resampling_scale
from catseg3d.io import Volume, load_datalist, read_nifti, write_nifti


def softmax_of_channels(inputs, network):
    return torch.softmax(network(inputs), dim=1)


def test_the_network_sees_the_model_grid_and_the_output_the_input_grid():
    seen = []

    def network(x):
        seen.append(tuple(x.shape))
        return torch.cat([4 * x, 4 * (1 - x), torch.zeros_like(x)], dim=1)

    x = torch.rand(2, 1, 40, 30)
    out = ResamplingInferer(softmax_of_channels, (2.0, 0.5))(x, network)
    assert seen == [(2, 1, 80, 15)] and out.shape == (2, 3, 40, 30)
    torch.testing.assert_close(out.sum(1), torch.ones(2, 40, 30))  # still probabilities
    volume = torch.rand(1, 1, 8, 12, 16)
    out = ResamplingInferer(softmax_of_channels, (0.5, 2.0, 1.0))(volume, network)
    assert seen[-1] == (1, 1, 4, 24, 16) and out.shape == (1, 3, 8, 12, 16)
    torch.testing.assert_close(out.sum(1), torch.ones(1, 8, 12, 16))
    with pytest.raises(ValueError, match="positive"):
        ResamplingInferer(softmax_of_channels, (0.0, 1.0))


def test_a_linear_ramp_survives_the_round_trip():
    """Linear interpolation reproduces a linear ramp exactly away from the edges, up and down."""
    ramp = torch.linspace(0, 1, 64)[None, None, :, None].expand(1, 1, 64, 48).contiguous()
    for scale in ((2.0, 2.0), (4.0, 4.0)):
        out = ResamplingInferer(lambda x, network: network(x), scale)(ramp, lambda x: x)
        torch.testing.assert_close(out[..., 4:-4, 4:-4], ramp[..., 4:-4, 4:-4], atol=1e-5, rtol=0)


def test_resampling_starts_beyond_three_percent_and_can_be_turned_off(tmp_path):
    model = load_segmentation_model(make_bundle(tmp_path / "b", spacing_nm=(0.12, 0.12)))
    predictor = Predictor(model)
    assert predictor.scale_for((0.123, 0.1175)) is None
    assert predictor.scale_for((0.24, 0.06)) == pytest.approx((2.0, 0.5))
    assert Predictor(model, resample=False).scale_for((0.24, 0.06)) is None
    assert Predictor(load_segmentation_model(make_bundle(tmp_path / "c", spacing_nm=None))).scale_for((0.24, 0.06)) is None
    with pytest.raises(ValueError, match="pixel sizes"):
        predictor.scale_for((0.1, 0.1, 0.1))


def test_cli_says_it_resamples_and_keeps_the_input_geometry(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b", spacing_nm=(0.12, 0.12))
    image = np.random.default_rng(0).integers(0, 255, (3, 40, 36)).astype(np.uint8)
    write_nifti(Volume(image, (0.4, 0.24, 0.36)), tmp_path / "in.nii.gz")
    assert main(["segment", str(tmp_path / "in.nii.gz"), str(tmp_path / "a.nii.gz"), "--model", str(bundle)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("resampling 0.24 x 0.36 nm to the model's 0.12 x 0.12 nm before the network, the "
                      "probabilities back to the input grid (--no-resample: off)")
    labels = read_nifti(tmp_path / "a.nii.gz")
    assert labels.array.shape == image.shape and labels.spacing == (0.4, 0.24, 0.36)
    assert main(["segment", str(tmp_path / "in.nii.gz"), str(tmp_path / "b.nii.gz"), "--model", str(bundle),
                 "--no-resample"]) == 0
    assert not any(line.startswith("resampling") for line in capsys.readouterr().out.splitlines())
    # tri-planar: each plane's own in-plane pixel size is named
    assert main(["segment", str(tmp_path / "in.nii.gz"), str(tmp_path / "c.nii.gz"), "--model", str(bundle),
                 "--planes", "xy,xz"]) == 0
    assert capsys.readouterr().out.startswith("resampling 0.24 x 0.36, 0.4 x 0.36 nm to the model's")


def test_an_input_far_coarser_than_the_model_is_refused_not_blown_up(tmp_path, capsys):
    assert resampling_scale((0.48, 0.12), (0.12, 0.12)) == pytest.approx((4.0, 1.0))
    assert resampling_scale((0.49, 0.12), (0.12, 0.12)) == pytest.approx((0.49 / 0.12, 1.0))  # within 3 %
    with pytest.raises(ValueError, match=r"pixel size 0.12 x 0.5 nm is 4.17x the model's 0.12 x 0.12 nm"):
        resampling_scale((0.12, 0.5), (0.12, 0.12))
    assert resampling_scale((0.03, 0.015), (0.12, 0.12)) == pytest.approx((0.25, 0.125))  # finer: no limit
    bundle = make_bundle(tmp_path / "b", spacing_nm=(0.12, 0.12))
    image = np.random.default_rng(0).integers(0, 255, (3, 32, 32)).astype(np.uint8)
    write_nifti(Volume(image, (1.0, 1.0, 1.0)), tmp_path / "coarse.nii.gz")
    out = tmp_path / "labels.nii.gz"
    assert main(["segment", str(tmp_path / "coarse.nii.gz"), str(out), "--model", str(bundle)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"catseg3d: error: {tmp_path / 'coarse.nii.gz'}: pixel size 1 x 1 nm is 8.33x the model's")
    assert len(error.splitlines()) == 1 and "--no-resample" in error and not out.exists()
    assert main(["segment", str(tmp_path / "coarse.nii.gz"), str(out), "--model", str(bundle), "--no-resample"]) == 0
    assert read_nifti(out).array.shape == image.shape
    # tri-planar: a plane too coarse is refused before any plane runs, though the first is fine
    write_nifti(Volume(image, (0.5, 0.24, 0.12)), tmp_path / "aniso.nii.gz")
    capsys.readouterr()
    assert main(["segment", str(tmp_path / "aniso.nii.gz"), str(tmp_path / "tri.nii.gz"), "--model", str(bundle),
                 "--planes", "xy,xz,yz"]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1 and "pixel size 0.5 x 0.12 nm is 4.17x" in captured.err
    assert captured.out == "" and not (tmp_path / "tri.nii.gz").exists()


def test_real_patches_at_a_coarser_pixel_size_score_as_at_the_native_one(genc_prepared, tmp_path):
    """Three validation patches at 0.48 nm: resampled to the shipped model's 0.12 nm they keep the
    native alumina DSC and lose much less Pt than run on their own grid."""
    model = load_segmentation_model()
    scores = {"native": [], "resampled": [], "own grid": []}
    for item in load_datalist(genc_prepared, "validation")[2:5]:
        image, label = read_nifti(item["image"]), read_nifti(item["label"]).array
        coarse = resize(image.array.astype(np.float32), (128, 128), order=1, anti_aliasing=True, preserve_range=True)
        coarse_label = resize(label, (128, 128), order=0, anti_aliasing=False, preserve_range=True)
        for name, pixels, truth, spacing, resample in (
                ("native", image.array[None], label, (0.12, 0.12), True),
                ("resampled", np.rint(coarse)[None], coarse_label, (0.48, 0.48), True),
                ("own grid", np.rint(coarse)[None], coarse_label, (0.48, 0.48), False)):
            probabilities = Predictor(model, resample=resample)(pixels.astype(np.uint8), spacing)
            labels = probabilities[0].argmax(0)
            assert labels.shape == truth.shape
            scores[name].append([2 * ((labels == c) & (truth == c)).sum() / ((labels == c).sum() + (truth == c).sum())
                                 for c in (1, 2)])
    mean = {name: np.mean(values, axis=0) for name, values in scores.items()}
    assert abs(mean["resampled"][0] - mean["native"][0]) < 0.015
    assert mean["resampled"][0] > mean["own grid"][0] + 0.02
    assert mean["resampled"][1] > mean["own grid"][1] + 0.05
