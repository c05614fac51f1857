"""CPU mixed precision and checkpoint discovery."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from catseg3d.engines import latest_checkpoint, resume_checkpoint, trained_features, trained_model
from catseg3d.inferers import AutocastInferer
from catseg3d.io.errors import InputError
from catseg3d.networks import PaperUNet, place_network


def test_bfloat16_autocast_is_close_to_float32_and_returns_float32():
    torch.manual_seed(0)
    network = place_network(PaperUNet(features=(8, 16, 32, 64, 128, 256)), "cpu").eval()
    image = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        reference = AutocastInferer(enabled=False, channels_last=False)(image, network)
        mixed = AutocastInferer()(image, network)
    assert reference.dtype == mixed.dtype == torch.float32
    assert network.down[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    assert (reference - mixed).abs().max().item() < 0.05 * reference.abs().max().item()
    assert (reference.argmax(1) == mixed.argmax(1)).float().mean().item() > 0.95


def test_autocast_actually_runs_the_network_in_bfloat16():
    seen = []
    network = torch.nn.Conv2d(1, 1, 3)
    network.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    AutocastInferer()(torch.rand(1, 1, 8, 8), network)
    AutocastInferer(enabled=False)(torch.rand(1, 1, 8, 8), network)
    assert seen == [torch.bfloat16, torch.float32]


def test_metadata_of_a_meta_tensor_input_is_kept():
    from monai.data import MetaTensor

    image = MetaTensor(torch.rand(1, 1, 8, 8), affine=torch.diag(torch.tensor([0.12, 0.12, 1.0, 1.0])),
                       meta={"filename_or_obj": "slice.nii.gz"})
    out = AutocastInferer()(image, torch.nn.Conv2d(1, 3, 1))
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32 and out.shape == (1, 3, 8, 8)
    assert out.meta["filename_or_obj"] == "slice.nii.gz" and out.affine[0, 0].item() == pytest.approx(0.12)


def test_latest_checkpoint_takes_the_highest_epoch(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    for epoch in (2, 10, 9):
        (tmp_path / f"checkpoint_epoch={epoch}.pt").touch()
    (tmp_path / "model.pt").touch()
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint_epoch=10.pt")


def test_resume_without_checkpoint_stops_with_one_line(tmp_path):
    with pytest.raises(InputError, match="no checkpoint_epoch=N.pt to resume from"):
        resume_checkpoint(tmp_path)


def test_trained_model_finds_the_best_or_the_last_network(tmp_path):
    with pytest.raises(InputError, match="model.pt: no trained model"):
        trained_model(tmp_path)
    with pytest.raises(InputError, match="no checkpoint_epoch=N.pt to evaluate"):
        trained_model(tmp_path, "last")
    for name in ("model.pt", "checkpoint_epoch=7.pt", "checkpoint_epoch=8.pt"):
        (tmp_path / name).touch()
    assert trained_model(tmp_path) == str(tmp_path / "model.pt")
    assert trained_model(tmp_path, "last") == str(tmp_path / "checkpoint_epoch=8.pt")
    with pytest.raises(InputError, match="checkpoint: must be 'best' or 'last', not 'final'"):
        trained_model(tmp_path, "final")


@pytest.mark.parametrize("spatial_dims, features", [(2, (4, 8, 16)), (2, (6, 12, 24, 48)), (3, (4, 8))])
def test_trained_features_are_read_from_the_weights(tmp_path, spatial_dims, features):
    """A flat model.pt and a full training state give the widths the network was built with."""
    state = PaperUNet(spatial_dims, features=features).state_dict()
    torch.save(state, tmp_path / "model.pt")
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": []}}, tmp_path / "checkpoint_epoch=3.pt")
    assert trained_features(trained_model(tmp_path)) == list(features)
    assert trained_features(trained_model(tmp_path, "last")) == list(features)


def test_trained_features_of_other_files_stop_with_one_line(tmp_path):
    torch.save({"conv.weight": torch.zeros(2, 1, 3, 3)}, tmp_path / "model.pt")
    with pytest.raises(InputError, match=f"{tmp_path / 'model.pt'}: not the weights of a catseg3d PaperUNet"):
        trained_features(tmp_path / "model.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match=f"{tmp_path / 'text.pt'}: cannot load model weights"):
        trained_features(tmp_path / "text.pt")


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), ("true", True), ("False", False),
                                             ("0", False), (1, True), ("on", True), ("no", False)])
def test_as_bool_reads_command_line_switches(value, expected):
    from catseg3d.engines import as_bool

    assert as_bool(value) is expected


def test_as_bool_rejects_anything_else():
    from catseg3d.engines import as_bool

    with pytest.raises(ValueError, match="expected true or false, got 'maybe'"):
        as_bool("maybe")


def test_compute_time_limit_stops_after_its_budget_of_cpu_time():
    import time

    import torch
    from ignite.engine import Engine

    from catseg3d.handlers import ComputeTimeLimit

    def busy(engine, batch):  # 20 ms of CPU on one thread per iteration
        end = time.process_time() + 0.02
        while time.process_time() < end:
            pass

    engine = Engine(busy)
    limit = ComputeTimeLimit(minutes=0.2 / 60 / torch.get_num_threads())  # 0.2 s of CPU time in all
    limit.attach(engine)
    engine.run(range(1000), max_epochs=1)
    assert 8 <= engine.state.iteration <= 12  # 0.2 s / 20 ms = 10 iterations, then it stops
    threads = torch.get_num_threads()  # the count is CPU seconds per thread
    assert 0.2 / threads <= limit.state_dict()["used_seconds"] < 0.3 / threads
    with pytest.raises(ValueError, match="positive"):
        ComputeTimeLimit(-1)

    resumed = Engine(busy)  # a run resumed from a checkpoint that had used 0.14 s of the 0.2
    limit = ComputeTimeLimit(minutes=0.2 / 60 / torch.get_num_threads())
    limit.load_state_dict({"used_seconds": 0.14 / threads})
    limit.attach(resumed)
    resumed.run(range(1000), max_epochs=1)
    assert 2 <= resumed.state.iteration <= 4  # the 0.06 s left: 3 iterations

    unlimited = Engine(busy)  # 0 minutes: only the count
    counter = ComputeTimeLimit(0)
    counter.attach(unlimited)
    unlimited.run(range(20), max_epochs=1)
    assert unlimited.state.iteration == 20
    assert 0.4 / threads <= counter.state_dict()["used_seconds"] < 0.6 / threads


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_flip_averaging_inferer_is_the_mean_softmax_over_all_flips(spatial_dims):
    from catseg3d.inferers import FlipAveragingInferer

    torch.manual_seed(0)
    conv = (torch.nn.Conv2d if spatial_dims == 2 else torch.nn.Conv3d)(1, 3, 3, padding=1)
    shift = torch.nn.Parameter(torch.linspace(0, 1, 6 ** spatial_dims).reshape((1, 1) + (6,) * spatial_dims))

    def network(x):  # position-dependent, so flips change the output
        return conv(x) * shift

    x = torch.rand((2, 1) + (6,) * spatial_dims)
    axes = list(range(2, 2 + spatial_dims))
    subsets = [[a for j, a in enumerate(axes) if k >> j & 1] for k in range(2 ** spatial_dims)]
    with torch.no_grad():
        expected = sum(torch.softmax(network(x.flip(s)), 1).flip(s) if s else torch.softmax(network(x), 1)
                       for s in subsets) / len(subsets)
        got = FlipAveragingInferer()(x, network)
        plain = torch.softmax(network(x), 1)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got.sum(1), torch.ones_like(got[:, 0]))
    assert not torch.allclose(got, plain, atol=1e-3)
    with pytest.raises(ValueError, match="shape"):
        FlipAveragingInferer()(torch.rand(1, 6, 6), network)


@pytest.mark.parametrize("spatial_dims, border, spatial_axes", [(2, 32, None), (2, 3, None), (3, 2, [0, 1])])
def test_reflection_padding_inferer_equals_a_numpy_mirrored_convolution(spatial_dims, border, spatial_axes):
    """A 3 x 3 (x 3) convolution of the mirrored image, cropped: numpy pads, scipy convolves."""
    from scipy.ndimage import correlate

    from catseg3d.inferers import ReflectionPaddingInferer

    torch.manual_seed(0)
    conv = (torch.nn.Conv2d if spatial_dims == 2 else torch.nn.Conv3d)(1, 1, 3, padding=1, bias=False)
    shape = (7, 5) if spatial_dims == 2 else (6, 5, 4)
    x = torch.rand((2, 1) + shape)
    with torch.no_grad():
        got = ReflectionPaddingInferer(border=border, spatial_axes=spatial_axes)(x, conv)
    axes = range(spatial_dims) if spatial_axes is None else spatial_axes
    borders = [min(border, size - 1) if axis in axes else 0 for axis, size in enumerate(shape)]  # 32 -> size - 1
    kernel = conv.weight[0, 0].detach().numpy().astype(np.float64)
    for image, out in zip(x[:, 0].numpy().astype(np.float64), got[:, 0].numpy()):
        padded = np.pad(image, [(b, b) for b in borders], mode="reflect")
        expected = correlate(padded, kernel, mode="constant")  # zero padding beyond, as the conv's
        expected = expected[tuple(slice(b, b + size) for b, size in zip(borders, shape))]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert got.shape == x.shape
    assert not torch.allclose(got, conv(x), atol=1e-4)  # the edges differ from zero padding


def test_reflection_padding_inferer_keeps_metadata_and_checks_its_input():
    from monai.data import MetaTensor

    from catseg3d.inferers import ReflectionPaddingInferer

    affine = torch.diag(torch.tensor([0.12, 0.12, 1.0, 1.0], dtype=torch.float64))
    image = MetaTensor(torch.rand(1, 1, 8, 6), affine=affine)
    out = ReflectionPaddingInferer(border=4)(image, torch.nn.Conv2d(1, 3, 1))
    assert isinstance(out, MetaTensor) and out.shape == (1, 3, 8, 6)
    torch.testing.assert_close(out.affine, affine)
    identity = ReflectionPaddingInferer(border=0)
    x = torch.rand(1, 1, 8, 6)
    torch.testing.assert_close(identity(x, torch.nn.Identity()), x)
    with pytest.raises(ValueError, match="border must be non-negative"):
        ReflectionPaddingInferer(border=-1)
    with pytest.raises(ValueError, match="shape"):
        ReflectionPaddingInferer()(torch.rand(1, 8, 6), torch.nn.Identity())


def test_input_errors_end_a_bundle_command_with_one_line():
    """The hook the bundle configs install: an InputError, even one MONAI wrapped while instantiating a
    component, prints one line and no traceback; any other error keeps Python's traceback."""
    import subprocess
    import sys

    program = ("import catseg3d.engines as e\n"
               "e.report_input_errors_in_one_line(); e.report_input_errors_in_one_line()\n"
               "from catseg3d.io.errors import InputError\n"
               "try:\n"
               "    raise InputError('/data/x.nii', 'not found')\n"
               "except InputError as error:\n"
               "    raise RuntimeError('Failed to instantiate component') from error\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == "catseg3d: error: /data/x.nii: not found\n"
    other = subprocess.run([sys.executable, "-c", "import catseg3d.engines as e\n"
                            "e.report_input_errors_in_one_line()\nraise KeyError('k')"], capture_output=True, text=True)
    assert other.returncode == 1 and "Traceback" in other.stderr and other.stderr.endswith("KeyError: 'k'\n")


def test_autocast_auto_follows_native_bfloat16_and_switches_are_kept():
    from catseg3d.inferers import autocast_enabled, native_bfloat16

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    expected = any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    assert native_bfloat16("cpu") is expected and autocast_enabled("auto", torch.device("cpu")) is expected
    assert autocast_enabled("Auto", "cuda") is True and native_bfloat16(torch.device("cuda", 0)) is True
    assert autocast_enabled("true", "cpu") is True and autocast_enabled(False, "cuda") is False
    with pytest.raises(ValueError, match="expected true or false"):
        autocast_enabled("sometimes", "cpu")
