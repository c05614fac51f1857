"""Shared fixtures: the real Genc et al. (2022) data from ../shared, prepared once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENC2022 = Path(os.environ.get("CATSEG3D_GENC2022", REPO.parent / "shared" / "data" / "genc2022"))


def run_catseg3d(*args) -> subprocess.CompletedProcess:
    """``catseg3d ARGS`` in this process (the same ``main`` that ``python -m catseg3d`` calls, without
    a new interpreter): its exit status, stdout and stderr."""
    import contextlib
    import io

    from catseg3d.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        returncode = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, returncode, stdout.getvalue(), stderr.getvalue())


def run_in_this_process(command: list, main, cwd=REPO) -> subprocess.CompletedProcess:
    """``main()`` run from ``cwd`` as the interpreter would run ``command``, without starting Python,
    torch and MONAI again: its exit status, stdout and stderr. ``SystemExit`` gives its status (a
    message goes to stderr with status 1); any other exception is reported by ``sys.excepthook``
    (catseg3d's one-line report where a bundle installed it), status 1. Log handlers that hold the
    streams of an earlier run are not captured: tests of log output start a real process."""
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    before = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main()
                returncode = 0
            except SystemExit as exit_:
                returncode = exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
                if not isinstance(exit_.code, (int, type(None))):
                    print(exit_.code, file=sys.stderr)
            except Exception:
                sys.excepthook(*sys.exc_info())
                returncode = 1
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(command, returncode, stdout.getvalue(), stderr.getvalue())


def run_script(script, *args, cwd=REPO) -> subprocess.CompletedProcess:
    """``python scripts/SCRIPT ARGS`` in this process (see :func:`run_in_this_process`): the script
    runs as ``__main__`` with that ``sys.argv``, its folder first on ``sys.path``."""
    import runpy

    path = REPO / "scripts" / script
    argv = [str(path), *map(str, args)]

    def main():
        saved_argv, saved_path = sys.argv, list(sys.path)
        sys.argv, sys.path[:0] = argv, [str(path.parent)]
        try:
            runpy.run_path(str(path), run_name="__main__")
        finally:
            sys.argv, sys.path[:] = saved_argv, saved_path

    return run_in_this_process([sys.executable, *argv], main, cwd)


def run_monai_bundle(*args, cwd=REPO) -> subprocess.CompletedProcess:
    """``python -m monai.bundle ARGS`` in this process (see :func:`run_in_this_process`): the same
    command line parsed by the same parser (fire) over the same functions."""
    import fire
    import monai.bundle.__main__ as bundle_main

    command = [str(a) for a in args]
    return run_in_this_process([sys.executable, "-m", "monai.bundle", *command],
                               lambda: fire.Fire(bundle_main, command=command), cwd)


@pytest.fixture(scope="session")
def genc_src() -> Path:
    """The authors' data folder (read-only); CI provides it beside the clone."""
    if not (GENC2022 / "train" / "train_images").is_dir():
        raise FileNotFoundError(f"real data not found at {GENC2022}; set CATSEG3D_GENC2022")
    return GENC2022


@pytest.fixture(scope="session")
def genc_prepared(genc_src, tmp_path_factory) -> Path:
    """``catseg3d prepare-genc2022`` output: NIfTI pairs and datalist.json."""
    from catseg3d.io.genc2022 import prepare_genc2022

    dest = tmp_path_factory.mktemp("genc") / "genc2022"
    prepare_genc2022(genc_src, dest)
    return dest


@pytest.fixture(scope="session")
def small_dataset(genc_prepared, tmp_path_factory) -> Path:
    """A dataset folder of 4 real training and 2 real validation patches, each cut to the 256 x 256
    quarter holding the most Pt (a quarter of the pixels: the bundle tests train and score 4x faster)."""
    import numpy as np

    from catseg3d.io import Volume, read_nifti, write_nifti

    full = json.loads((genc_prepared / "datalist.json").read_text())
    folder = tmp_path_factory.mktemp("small")
    small = {}
    for split, n in (("training", 4), ("validation", 2)):
        small[split] = []
        for item in full[split][:n]:
            image, label = (read_nifti(genc_prepared / item[k]) for k in ("image", "label"))
            quarters = [(y, x) for y in (0, 256) for x in (0, 256)]
            y, x = max(quarters, key=lambda q: int((label.array[q[0]:q[0] + 256, q[1]:q[1] + 256] == 2).sum()))
            names = {}
            for key, volume in (("image", image), ("label", label)):
                names[key] = str(folder / Path(item[key]).name)
                write_nifti(Volume(np.ascontiguousarray(volume.array[y:y + 256, x:x + 256]), volume.spacing),
                            names[key])
            small[split].append({**names, "region": item["region"]})
    (folder / "datalist.json").write_text(json.dumps(small))
    return folder


def bundle_command(run_id, config_files, dataset_dir, bundle_root, *overrides):
    """``python -m monai.bundle run RUN_ID --config_file ...`` with the dataset and root overridden."""
    files = config_files[0] if len(config_files) == 1 else str(list(config_files))
    return [sys.executable, "-m", "monai.bundle", "run", run_id, "--config_file", files,
            "--dataset_dir", str(dataset_dir), "--bundle_root", str(bundle_root), *map(str, overrides)]


def run_bundle(run_id, config_files, dataset_dir, bundle_root, *overrides):
    """Run a bundle workflow from the repository root in a new process; fail the test with its output
    if it fails."""
    result = subprocess.run(bundle_command(run_id, config_files, dataset_dir, bundle_root, *overrides), cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def run_bundle_here(run_id, config_files, dataset_dir, bundle_root, *overrides):
    """:func:`run_bundle` in this process (:func:`run_monai_bundle`), for tests that read the
    workflow's files rather than its log; fail the test with its output if it fails."""
    result = run_monai_bundle(*bundle_command(run_id, config_files, dataset_dir, bundle_root, *overrides)[3:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def trained_bundle(small_dataset, tmp_path_factory):
    """A bundle root after one real training epoch on the small dataset, and the run's output."""
    root = tmp_path_factory.mktemp("trained")
    result = run_bundle("training", ["bundle/configs/train.yaml"], small_dataset, root, "--epochs", 1)
    return root, result
