"""TorchScript and ONNX exports made with MONAI's bundle commands: parity with the PyTorch model,
and `catseg3d segment` runs all three formats to the same labels."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import REPO, run_monai_bundle
from test_segment import make_bundle

from catseg3d.cli.main import main
from catseg3d.inference import load_segmentation_model
from catseg3d.io import Volume, write_nifti

ONNX_AXES = ("{'input_names':['image'],'output_names':['pred'],"
             "'dynamic_axes':{'image':{0:'b',2:'h',3:'w'},'pred':{0:'b',2:'h',3:'w'}}}")


def export(bundle, kind):
    """Run `python -m monai.bundle ckpt_export|onnx_export` on a small bundle (features 4, 8, 16), with
    the configs of the inference workflow, which build the network as wide as its weights."""
    target = bundle / "models" / f"model.{kind}"
    command = [sys.executable, "-m", "monai.bundle", "ckpt_export" if kind == "ts" else "onnx_export", "network_def",
               "--filepath", str(target), "--ckpt_file", str(bundle / "models" / "model.pt"),
               "--meta_file", str(bundle / "configs" / "metadata.json"),
               "--config_file", "['bundle/configs/train.yaml','bundle/configs/inference.yaml']", "--bundle_root", str(bundle)]
    if kind == "onnx":
        command += ["--input_shape", "[1,1,32,32]", "--converter_kwargs", ONNX_AXES]
    if kind == "onnx":  # the same command line in this process (the TorchScript export runs as a command)
        result = run_monai_bundle(*command[3:])
    else:
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return target


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    bundle = make_bundle(tmp_path_factory.mktemp("export") / "bundle")
    return bundle, {kind: export(bundle, kind) for kind in ("ts", "onnx")}


@pytest.mark.parametrize("kind", ["ts", "onnx"])
def test_export_gives_the_pytorch_output(exported, kind):
    bundle, files = exported
    reference = load_segmentation_model(bundle).network
    exported_network = load_segmentation_model(files[kind]).network
    x = torch.rand(2, 1, 48, 80, generator=torch.Generator().manual_seed(0))  # not the export shape
    with torch.no_grad():
        expected, produced = reference(x), exported_network(x)
    assert produced.shape == expected.shape
    assert (produced - expected).abs().max().item() < 1e-4


def test_segment_runs_all_three_formats_to_the_same_labels(exported, tmp_path):
    bundle, files = exported
    array = np.random.default_rng(5).normal(size=(4, 40, 24)).astype(np.float32)
    source = write_nifti(Volume(array, (0.3, 0.12, 0.12)), tmp_path / "tomo.nii")
    labels = {}
    for name, model in (("pt", bundle / "models" / "model.pt"), *files.items()):
        out = tmp_path / f"labels_{name}.nii"
        assert main(["segment", str(source), str(out), "--model", str(model), "--precision", "float32"]) == 0
        labels[name] = np.asarray(nib.load(str(out)).dataobj)
    assert len(np.unique(labels["pt"])) > 1
    np.testing.assert_array_equal(labels["ts"], labels["pt"])
    np.testing.assert_array_equal(labels["onnx"], labels["pt"])


def test_exports_embed_nothing_unsafe_and_torchscript_carries_metadata(exported):
    _, files = exported
    extra = {"metadata.json": ""}
    torch.jit.load(files["ts"], _extra_files=extra)
    assert json.loads(extra["metadata.json"])["network_data_format"]["outputs"]["pred"]["num_channels"] == 3
