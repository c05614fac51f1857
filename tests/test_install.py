"""A regular (non-editable) install segments from any folder with the shipped model it carries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv

import numpy as np
from conftest import REPO

from catseg3d.io import load_datalist, read_nifti


def test_a_regular_install_segments_from_another_folder(genc_prepared, tmp_path):
    source = tmp_path / "source"  # a copy of the sources: no build output lands in the checkout
    source.mkdir()
    tracked = subprocess.run(["git", "ls-files", "pyproject.toml", "README.md", "LICENSE", "catseg3d", "bundle"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, tracked):  # what a release holds: no runs, caches or evaluation output
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, source / name)
    environment = tmp_path / "venv"
    venv.create(environment, system_site_packages=True, with_pip=True)  # dependencies from this environment
    python = environment / "bin" / "python"
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(source)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CATSEG3D_BUNDLE"}
    where = subprocess.run([python, "-c", "import catseg3d, catseg3d.inference.model as m; "
                                          "print(catseg3d.__file__); print(m.default_bundle())"],
                           cwd=elsewhere, capture_output=True, text=True, env=env)
    module, bundle = where.stdout.split()
    assert module.startswith(str(environment)) and bundle == str(environment / "share" / "catseg3d" / "bundle")
    assert (environment / "share" / "catseg3d" / "bundle" / "docs" / "eval" / "report.md").is_file()
    image = load_datalist(genc_prepared, "validation")[3]["image"]
    result = subprocess.run([environment / "bin" / "catseg3d", "segment", image, "labels.nii.gz",
                             "--precision", "float32"], cwd=elsewhere, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    installed = read_nifti(elsewhere / "labels.nii.gz").array
    here = subprocess.run([sys.executable, "-m", "catseg3d", "segment", image, str(tmp_path / "here.nii.gz"),
                           "--precision", "float32"], capture_output=True, text=True, env=env)
    assert here.returncode == 0, here.stderr[-2000:]
    assert len(np.unique(installed)) == 3
    np.testing.assert_array_equal(installed, read_nifti(tmp_path / "here.nii.gz").array)


def test_the_library_neither_exits_nor_names_the_shared_data():
    """Only the command-line entry points turn errors into an exit status; no library module
    raises SystemExit or calls sys.exit, and none names the ../shared data folder."""
    import re

    entry_points = {REPO / "catseg3d" / "__main__.py", REPO / "catseg3d" / "cli" / "main.py"}
    offenders = []
    for path in sorted((REPO / "catseg3d").rglob("*.py")):
        text = path.read_text()
        if path not in entry_points and re.search(r"SystemExit|sys\.exit\(|\bexit\(", text):
            offenders.append(f"{path.relative_to(REPO)}: exits")
        if re.search(r"\.\./shared|shared/data", text):
            offenders.append(f"{path.relative_to(REPO)}: names ../shared")
    assert offenders == []


def test_class_names_are_the_shipped_bundles():
    """The library's class names (evaluation reports, quantify, the simulator's truth) are the
    shipped model's output channels, as its metadata names them."""
    import json

    from catseg3d.io.genc2022 import CLASS_NAMES

    meta = json.loads((REPO / "bundle" / "configs" / "metadata.json").read_text())
    channels = meta["network_data_format"]["outputs"]["pred"]["channel_def"]
    assert tuple(channels[str(c)] for c in range(len(channels))) == CLASS_NAMES
