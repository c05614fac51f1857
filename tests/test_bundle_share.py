"""Sharing the bundle: offline metadata verification against the schema kept in the repository,
and the network's input/output shapes checked against metadata.json."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, run_monai_bundle

METADATA = REPO / "bundle" / "configs" / "metadata.json"
SCHEMA = REPO / "bundle" / "configs" / "metadata_schema.json"


def verify_metadata(meta_file, in_this_process=False):
    """``python -m monai.bundle verify_metadata`` against the repository's schema, in a new process or in
    this one (the same command line and functions, without the interpreter's start)."""
    args = ["verify_metadata", "--meta_file", str(meta_file), "--filepath", str(SCHEMA)]
    if in_this_process:
        return run_monai_bundle(*args)
    return subprocess.run([sys.executable, "-m", "monai.bundle", *args], capture_output=True, text=True, cwd=REPO)


def test_metadata_verifies_offline_against_the_repository_schema():
    result = verify_metadata(METADATA)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "metadata is verified with no error" in result.stderr + result.stdout


def drop_license(meta):
    del meta["license"]


def channels_as_text(meta):
    meta["network_data_format"]["inputs"]["image"]["num_channels"] = "one"


def no_spacing(meta):
    del meta["network_data_format"]["inputs"]["image"]["spacing_nm"]


def unnamed_classes(meta):
    meta["network_data_format"]["outputs"]["pred"]["channel_def"] = {"0": ""}


def percentile_out_of_range(meta):
    meta["intensity_mapping"]["percentiles"] = [1, 120]


@pytest.mark.parametrize("breakage, field", [
    (drop_license, "'license' is a required property"), (channels_as_text, "'one' is not of type 'integer'"),
    (no_spacing, "'spacing_nm' is a required property"), (unnamed_classes, "should be non-empty"),
    (percentile_out_of_range, "120 is greater than the maximum of 100"),
])
def test_broken_metadata_is_rejected(tmp_path, breakage, field):
    meta = json.loads(METADATA.read_text())
    breakage(meta)
    broken = tmp_path / "metadata.json"
    broken.write_text(json.dumps(meta))
    result = verify_metadata(broken, in_this_process=True)
    assert result.returncode != 0
    assert field in result.stderr


def verify_net_in_out(meta_file, in_this_process=False):
    args = ["verify_net_in_out", "network_def", "--meta_file", str(meta_file), "--config_file",
            "bundle/configs/train.yaml", "--n", "1", "--device", "cpu"]
    if in_this_process:
        return run_monai_bundle(*args)
    return subprocess.run([sys.executable, "-m", "monai.bundle", *args], capture_output=True, text=True, cwd=REPO)


def test_network_shapes_match_the_metadata():
    result = verify_net_in_out(METADATA)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "data shape of network is verified with no error" in result.stderr + result.stdout


def test_network_with_other_outputs_than_the_metadata_fails(tmp_path):
    meta = json.loads(METADATA.read_text())
    meta["network_data_format"]["outputs"]["pred"]["num_channels"] = 2
    wrong = tmp_path / "metadata.json"
    wrong.write_text(json.dumps(meta))
    result = verify_net_in_out(wrong, in_this_process=True)
    assert result.returncode != 0
    assert "output channel number" in result.stderr or "num_channels" in result.stderr, result.stderr[-1500:]
