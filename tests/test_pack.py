"""catseg3d pack + MONAI's download: a bundle travels as one file and segments the same elsewhere."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import nibabel as nib
import numpy as np
import pytest
from conftest import REPO
from test_segment import make_bundle

from catseg3d.cli.main import main
from catseg3d.io import Volume, write_nifti


def full_bundle(root):
    """A small-network bundle with the repository's configs, docs and licence, and a checkpoint."""
    bundle = make_bundle(root)
    for config in (REPO / "bundle" / "configs").iterdir():
        if config.name != "metadata.json":
            shutil.copy(config, bundle / "configs")
    (bundle / "docs").mkdir()
    shutil.copy(REPO / "bundle" / "docs" / "README.md", bundle / "docs")
    shutil.copy(REPO / "bundle" / "LICENSE", bundle)
    (bundle / "models" / "checkpoint_epoch=3.pt").write_bytes(b"training state")
    return bundle


def test_pack_install_segment_round_trip(tmp_path):
    bundle = full_bundle(tmp_path / "lab_a")
    packed = tmp_path / "shared.zip"
    assert main(["pack", str(bundle), str(packed)]) == 0
    name = json.loads((bundle / "configs" / "metadata.json").read_text())["name"]
    names = set(zipfile.ZipFile(packed).namelist())
    assert f"{name}/models/model.pt" in names and f"{name}/configs/train.yaml" in names
    assert f"{name}/LICENSE" in names and f"{name}/docs/README.md" in names
    assert not any("checkpoint" in n for n in names)

    lab_b = tmp_path / "lab_b"
    install = [sys.executable, "-m", "monai.bundle", "download", "--name", name, "--url", packed.as_uri(),
               "--bundle_dir", str(lab_b)]
    result = subprocess.run(install, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]

    array = np.random.default_rng(6).normal(size=(3, 32, 24)).astype(np.float32)
    source = write_nifti(Volume(array, (0.2, 0.12, 0.12)), tmp_path / "tomo.nii")
    outputs = []
    for model in (bundle, lab_b / name):
        out = tmp_path / f"labels_{model.parent.name}.nii"
        assert main(["segment", str(source), str(out), "--model", str(model), "--precision", "float32"]) == 0
        outputs.append(np.asarray(nib.load(str(out)).dataobj))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def two_classes_in_metadata(bundle):
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    meta["network_data_format"]["outputs"]["pred"]["channel_def"] = {"0": "background", "1": "alumina"}
    (bundle / "configs" / "metadata.json").write_text(json.dumps(meta))
    return "metadata says 1 input channels and 2 classes, the weights have 1 and 3"


def no_license(bundle):
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    del meta["license"]
    (bundle / "configs" / "metadata.json").write_text(json.dumps(meta))
    return "'license' is a required property"


def broken_export(bundle):
    (bundle / "models" / "model.ts").write_bytes(b"not TorchScript")
    return "cannot load model weights"


@pytest.mark.parametrize("breakage", [two_classes_in_metadata, no_license, broken_export])
def test_mismatched_bundle_is_refused_before_packing(tmp_path, capsys, breakage):
    bundle = full_bundle(tmp_path / "bundle")
    problem = breakage(bundle)
    packed = tmp_path / "shared.zip"
    assert main(["pack", str(bundle), str(packed)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and problem in error
    assert not packed.exists() and not list(tmp_path.glob(".shared.zip*"))
