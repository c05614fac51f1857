"""Arguments are checked by the library, and the command line turns the library's refusal into one
line on stderr, exit 2 and no output."""

from __future__ import annotations

import numpy as np
import pytest
from test_microscope_formats import HAADF_DM3, one_line_error

from catseg3d.finetune import finetune
from catseg3d.io import InputError
from catseg3d.simulation import simulate_series
from catseg3d.tomography import reconstruct_tilt_series


@pytest.mark.parametrize("kwargs", [{"iterations": 0}, {"thickness": 0}])
def test_reconstruction_refuses_no_iterations_or_thickness(kwargs, tmp_path, capsys):
    with pytest.raises(ValueError, match="must be positive"):
        reconstruct_tilt_series(np.ones((3, 8, 8)), [-10, 0, 10], **kwargs)
    option = "--" + next(iter(kwargs))
    line = one_line_error(capsys, "reconstruct", HAADF_DM3, tmp_path / "out.nii.gz", option, 0)
    assert line.startswith(f"catseg3d: error: {HAADF_DM3}: ") and "must be positive" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, option, problem", [
    ({"n": 0}, ["--n", "0"], "n >= 1"),
    ({"shape": (4, 16, 16)}, ["--shape", "4", "16", "16"], "at least 8 voxels"),
    ({"spacing": 0.0}, ["--spacing", "0"], "must be positive"),
    ({"dose": -1.0}, ["--dose", "-1"], "must be positive"),
    ({"iterations": 0}, ["--iterations", "0"], "must be positive"),
])
def test_simulation_refuses_bad_sizes(kwargs, option, problem, tmp_path, capsys):
    with pytest.raises(ValueError, match=problem):
        simulate_series(tmp_path / "lib", **{"n": 1, "shape": (16, 16, 16), **kwargs})
    line = one_line_error(capsys, "simulate", tmp_path / "cli", *option)
    assert line.startswith(f"catseg3d: error: {tmp_path / 'cli'}: ") and problem in line
    assert not (tmp_path / "lib").exists() and not (tmp_path / "cli").exists()


def test_finetune_refuses_no_minutes(tmp_path, capsys):
    with pytest.raises(InputError, match="must be positive"):
        finetune([tmp_path / "image.nii.gz"], [tmp_path / "labels.nii.gz"], tmp_path / "out", minutes=0)
    line = one_line_error(capsys, "finetune", "--images", tmp_path / "image.nii.gz", "--labels",
                          tmp_path / "labels.nii.gz", "--out", tmp_path / "out", "--minutes", "0")
    assert line.startswith("catseg3d: error: --minutes: ") and "must be positive" in line
    assert not (tmp_path / "out").exists()


def library_defaults(function) -> dict:
    import inspect

    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize("argv, function, names", [
    # (command line, library function, {CLI dest: library parameter})
    (["segment", "in", "out"], "catseg3d.inference.predictor:Predictor",
     {"overlap": "overlap", "blend": "blend", "tta": "tta", "border": "border", "precision": "precision",
      "sw_batch_size": "sw_batch_size", "resample": "resample"}),
    (["segment", "in", "out"], "catseg3d.inference.segment:segment",
     {"min_size": "min_size", "intensity": "intensity", "slab": "slab"}),
    (["finetune", "--images", "i", "--labels", "l", "--out", "o"], "catseg3d.finetune:finetune",
     {"minutes": "minutes", "intensity": "intensity", "seed": "seed"}),
    (["quantify", "labels", "--out", "o"], "catseg3d.quantify:write_quantification",
     {"min_size": "min_voxels", "open_pore_radius": "open_pore_radius_nm"}),
    (["evaluate", "--out", "o"], "catseg3d.metrics:Evaluation", {"percentiles": "percentiles"}),
    (["reconstruct", "t", "o.nii", "--tilt-axis", "y"], "catseg3d.tomography:reconstruct_tilt_series",
     {"method": "method", "iterations": "iterations", "tilt_axis": "tilt_axis"}),  # default auto: resolved first
    (["simulate", "o"], "catseg3d.simulation:simulate_series",
     {"seed": "seed", "spacing": "spacing", "dose": "dose", "method": "method", "iterations": "iterations",
      "first": "first"}),
])
def test_command_line_defaults_are_the_librarys(argv, function, names):
    import importlib

    from catseg3d.cli.main import build_parser

    module, name = function.split(":")
    defaults = library_defaults(getattr(importlib.import_module(module), name))
    args = vars(build_parser().parse_args(argv))
    for cli, library in names.items():
        got = args[cli]
        assert (tuple(got) if isinstance(got, list) else got) == defaults[library], (cli, library)
