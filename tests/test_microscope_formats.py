"""Gatan DM3/DM4 and EMD files through rosettasciio: arrays, axis order, spacing in nm, tilt series."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import GENC2022
from rsciio.digitalmicrograph import file_reader as read_dm_raw
from rsciio.emd import file_reader as read_emd_raw
from rsciio.emd import file_writer as write_emd_raw

from catseg3d.cli.main import main
from catseg3d.io import InputError, read_nifti, read_volume
from catseg3d.io.microscope import read_microscope_volume, read_tilt_series

# formats/README.md: a real HAADF tilt series, 91 x 64 x 64 uint16, -90..+90 degrees in 2 degree steps,
# 0.017995 um pixels (the README gives 5 significant digits)
HAADF_DM3 = GENC2022.parent / "formats" / "nist-etspy-haadf" / "HAADF.dm3"


@pytest.fixture(scope="module")
def haadf_dm3():
    if not HAADF_DM3.is_file():
        raise FileNotFoundError(f"real data not found at {HAADF_DM3}; set CATSEG3D_GENC2022")
    return HAADF_DM3


# Small files written by DigitalMicrograph and Velox, the test data of hyperspy's readers (now
# rosettasciio's: the SHA-256 of each file equals rosettasciio's tests/registry.txt), taken from the
# hyperspy 1.7.6 wheel on PyPI, which carried them. What each holds is documented beside it:
# rsciio/tests/generate_dm_testing_files.py (DM4 test-N: dtype code N, values 1..4 in a 2 x 2
# image, 1..8 in a 2 x 2 x 2 volume, uncalibrated), rsciio/tests/test_emd_velox.py (a 512 x 512
# HAADF image in 0.00530241 um pixels, its array saved by the authors as fei_emd_image.npy).
PUBLIC_WHEEL = "hyperspy==1.7.6"
PUBLIC_FILES = {
    "dm4_2D_data/test-10.dm4": "6b699af5e227db37cbfe90da6c4f1e64654e7dda21161428410449db5b89b3ee",
    "dm4_3D_data/test-2.dm4": "4635cedce026b3405bb016ac637419f8a7854a4c2d6197d284fbfdb1e0f8b6d3",
    "dm3_locale/Fei HAADF-UK_location.dm3": "3264325b6f79457737f6ff71e3979ebe508971a592c24e15d9ee4ba876244e56",
    "emd_files/fei_example_tem_stack.emd": "397d5076b0133db608abd985985fad275bf6594823393f72a069020e47c21a1e",
    "emd_files/fei_emd_files.zip": "101512cb1e0d66b63ac62ef4390a8bd654714a41e416c94230229e14e0d9ea62",
}
VELOX_IMAGE = "fei_emd_image"  # .emd and .npy inside fei_emd_files.zip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def public_em_files() -> Path:
    """The public DM and Velox test files, downloaded once (pip, from PyPI) into a cache folder
    (``$CATSEG3D_TEST_DATA``, default ``~/.cache/catseg3d/test-data``) and checked by SHA-256."""
    cache = Path(os.environ.get("CATSEG3D_TEST_DATA", Path.home() / ".cache" / "catseg3d" / "test-data"))
    folder = cache / PUBLIC_WHEEL.replace("==", "-")
    if not all((folder / name).is_file() and sha256(folder / name) == digest for name, digest in PUBLIC_FILES.items()):
        wheels = cache / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "download", PUBLIC_WHEEL, "--no-deps", "--only-binary=:all:",
                        "--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
                        "--quiet", "--dest", str(wheels)], check=True)
        wheel = next(wheels.glob(PUBLIC_WHEEL.replace("==", "-") + "-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in PUBLIC_FILES:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(archive.read(f"hyperspy/tests/io/{name}"))
        with zipfile.ZipFile(folder / "emd_files/fei_emd_files.zip") as archive:
            for suffix in (".emd", ".npy"):
                (folder / "emd_files" / f"{VELOX_IMAGE}{suffix}").write_bytes(archive.read(VELOX_IMAGE + suffix))
    for name, digest in PUBLIC_FILES.items():
        assert sha256(folder / name) == digest, f"{folder / name}: not the published file"
    return folder


def test_real_dm4_image_and_volume(public_em_files, tmp_path, capsys):
    image, spacing = read_microscope_volume(public_em_files / "dm4_2D_data/test-10.dm4")
    assert image.dtype == np.uint16 and spacing is None
    np.testing.assert_array_equal(image, np.arange(1, 5).reshape(2, 2))
    volume, spacing = read_microscope_volume(public_em_files / "dm4_3D_data/test-2.dm4")
    assert volume.dtype == np.float32 and spacing is None
    np.testing.assert_array_equal(volume, np.arange(1, 9).reshape(2, 2, 2))
    # uncalibrated: convert wants the voxel size, then writes it
    source = public_em_files / "dm4_3D_data/test-2.dm4"
    line = one_line_error(capsys, "convert", source, tmp_path / "no.nii.gz")
    assert line.startswith(f"catseg3d: error: {source}: ") and "--spacing" in line
    assert not (tmp_path / "no.nii.gz").exists()
    assert main(["convert", str(source), str(tmp_path / "v.nii.gz"), "--spacing", "0.5"]) == 0
    converted = read_nifti(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(converted.array, volume)
    assert converted.spacing == (0.5, 0.5, 0.5)


def test_real_dm3_haadf_image_in_nm(public_em_files, tmp_path):
    source = public_em_files / "dm3_locale/Fei HAADF-UK_location.dm3"
    raw = read_dm_raw(source)[0]
    assert [axis["units"] for axis in raw["axes"]] == ["µm", "µm"]  # 0.0055 um pixels
    assert main(["convert", str(source), str(tmp_path / "haadf.nii.gz")]) == 0
    converted = read_nifti(tmp_path / "haadf.nii.gz")
    np.testing.assert_array_equal(converted.array, raw["data"])
    np.testing.assert_allclose(converted.spacing, [raw["axes"][0]["scale"] * 1000] * 2, rtol=1e-6)


def test_real_velox_emd_image(public_em_files, tmp_path):
    source = public_em_files / "emd_files" / f"{VELOX_IMAGE}.emd"
    assert main(["convert", str(source), str(tmp_path / "velox.nii.gz")]) == 0
    converted = read_nifti(tmp_path / "velox.nii.gz")
    np.testing.assert_array_equal(converted.array, np.load(source.with_suffix(".npy")))
    np.testing.assert_allclose(converted.spacing, (5.30241, 5.30241), rtol=1e-5)  # 0.00530241 um


def test_real_velox_emd_image_stack(public_em_files):
    """A Velox TEM stack (2 frames of 3 x 3 in pm pixels along a time axis in seconds): no length
    unit on every axis, so it counts as uncalibrated, and its frames keep their order."""
    source = public_em_files / "emd_files/fei_example_tem_stack.emd"
    raw = read_emd_raw(source, select_type="images")[0]
    array, spacing = read_microscope_volume(source)
    assert array.shape == (2, 3, 3) and spacing is None
    np.testing.assert_array_equal(array, raw["data"])


def ramp(shape, dtype=np.float32):
    """An array whose every voxel differs, so any axis swap or flip changes it."""
    return np.arange(np.prod(shape)).reshape(shape).astype(dtype)


def write_emd(path, array, axes, title="image"):
    """A Berkeley/NCEM EMD file written by rosettasciio.

    ``axes`` holds ``(name, scale, units)`` or ``(name, scale, units, offset)`` per array axis.
    """
    write_emd_raw(path, {
        "data": array,
        "axes": [{"offset": 0.0, **dict(zip(("name", "scale", "units", "offset"), axis, strict=False)),
                  "size": size, "navigate": False} for axis, size in zip(axes, array.shape, strict=True)],
        "metadata": {"General": {"title": title}, "Signal": {}},
        "original_metadata": {},
    })


def write_emd_signals(path, images):
    """One EMD file holding several 2D signals (``{title: array}``) in 0.2 nm pixels."""
    for index, (title, array) in enumerate(images.items()):
        part = path if index == 0 else path.with_name(f"part{index}.emd")
        write_emd(part, array, [("y", 0.2, "nm"), ("x", 0.2, "nm")], title)
        if index:
            with h5py.File(path, "a") as dest, h5py.File(part, "r") as source:
                source.copy(source[f"signals/{title}"], dest["signals"], name=title)
            part.unlink()


def one_line_error(capsys, *args):
    """Run the CLI, which must fail; its single stderr line."""
    assert main(list(map(str, args))) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_tilt_series_is_not_read_as_a_volume(haadf_dm3, tmp_path, capsys):
    problem = "tilt series of 91 projections from -90 to 90 degrees, not a volume"
    for spacing in (None, 1.0):  # an explicit spacing does not make projections a volume
        with pytest.raises(InputError) as caught:
            read_volume(haadf_dm3, spacing=spacing)
        message = str(caught.value)
        assert message.startswith(f"{haadf_dm3}: ") and problem in message
        assert "`catseg3d reconstruct`" in message
        assert "\n" not in message
    line = one_line_error(capsys, "convert", haadf_dm3, tmp_path / "out.nii.gz")
    assert line == f"catseg3d: error: {message}"
    assert not list(tmp_path.iterdir())


def test_read_tilt_series_matches_the_file(haadf_dm3):
    series = read_tilt_series(haadf_dm3)
    (raw,) = read_dm_raw(haadf_dm3)
    assert series.projections.shape == (91, 64, 64) and series.projections.dtype == np.uint16
    np.testing.assert_array_equal(series.projections, raw["data"])
    np.testing.assert_array_equal(series.angles, np.arange(-90, 91, 2))
    assert [axis["units"] for axis in raw["axes"]] == ["deg", "µm", "µm"]
    # the file holds float32 0.017994916 um, which the README rounds to 0.017995 um
    np.testing.assert_allclose(series.pixel_size, (17.995, 17.995), rtol=3e-5)
    np.testing.assert_allclose(series.pixel_size, [raw["axes"][i]["scale"] * 1e3 for i in (1, 2)], rtol=1e-9)


def test_emd_volume_round_trip(tmp_path):
    volume = ramp((5, 6, 7))
    source = tmp_path / "volume.emd"
    write_emd(source, volume, [("z", 0.0005, "µm"), ("y", 2.5, "Å"), ("x", 0.12, "nm")])
    with h5py.File(source, "r") as emd:  # the NCEM EMD v0.2 layout
        assert (emd.attrs["version_major"], emd.attrs["version_minor"]) == ("0", "2")
        group = emd["signals/image"]
        assert group.attrs["emd_group_type"] == 1
        assert group["data"].shape == (7, 6, 5)  # stored as (x, y, z): dim1 is x
        assert [group[f"dim{i}"].attrs["name"] for i in (1, 2, 3)] == ["x", "y", "z"]
    (raw,) = read_emd_raw(source)
    np.testing.assert_array_equal(raw["data"], volume)
    assert [(axis["name"], axis["units"]) for axis in raw["axes"]] == [("z", "µm"), ("y", "Å"), ("x", "nm")]

    read = read_volume(source)
    np.testing.assert_array_equal(read.array, volume)
    assert read.array.dtype == np.float32
    assert read.spacing == (0.5, 0.25, 0.12)
    out = tmp_path / "out.nii.gz"
    assert main(["convert", str(source), str(out)]) == 0
    nifti = read_nifti(out)
    np.testing.assert_array_equal(nifti.array, volume)
    assert nifti.spacing == (0.5, 0.25, 0.12)


@pytest.mark.parametrize("units, scale", [("nm", 0.12), ("um", 0.00012), ("Å", 1.2), ("pm", 120.0),
                                          ("m", 1.2e-10)])
def test_emd_image_spacing_in_nm(tmp_path, units, scale):
    image = ramp((6, 9), np.uint16)
    write_emd(tmp_path / "image.emd", image, [("y", 2 * scale, units), ("x", scale, units)])
    read = read_volume(tmp_path / "image.emd")
    np.testing.assert_array_equal(read.array, image)
    assert read.array.dtype == np.uint16 and read.spacing == (0.24, 0.12)
    out = tmp_path / "out.nii.gz"
    assert main(["convert", str(tmp_path / "image.emd"), str(out)]) == 0
    np.testing.assert_array_equal(read_nifti(out).array, image)
    assert read_nifti(out).spacing == (0.24, 0.12)


@pytest.mark.parametrize("units", ["px", None])
def test_emd_without_length_units_needs_spacing(tmp_path, units):
    image = ramp((4, 5))
    write_emd(tmp_path / "plain.emd", image, [("y", 1.0, units), ("x", 1.0, units)])
    with pytest.raises(InputError, match="the file holds no voxel size; pass --spacing NM"):
        read_volume(tmp_path / "plain.emd")
    assert read_volume(tmp_path / "plain.emd", spacing=0.3).spacing == (0.3, 0.3)


def test_emd_tilt_series(tmp_path):
    projections = ramp((5, 4, 3))
    source = tmp_path / "tilt.emd"
    write_emd(source, projections, [("tilt", 30.0, "deg", -60.0), ("y", 0.5, "nm"), ("x", 0.5, "nm")])
    series = read_tilt_series(source)
    np.testing.assert_array_equal(series.projections, projections)
    np.testing.assert_array_equal(series.angles, [-60, -30, 0, 30, 60])
    assert series.pixel_size == (0.5, 0.5)
    with pytest.raises(InputError, match="tilt series of 5 projections from -60 to 60 degrees"):
        read_volume(source)


def test_read_tilt_series_refuses_a_volume(tmp_path):
    write_emd(tmp_path / "volume.emd", ramp((2, 3, 4)),
              [("z", 1.0, "nm"), ("y", 1.0, "nm"), ("x", 1.0, "nm")])
    with pytest.raises(InputError, match="not a tilt series"):
        read_tilt_series(tmp_path / "volume.emd")


def test_emd_with_several_signals_reads_the_haadf_image(tmp_path):
    haadf, eds = ramp((6, 8)), ramp((6, 8)) + 1000
    write_emd_signals(tmp_path / "multi.emd", {"EDS Pt": eds, "HAADF": haadf})
    titles = sorted(s["metadata"]["General"]["title"] for s in read_emd_raw(tmp_path / "multi.emd"))
    assert titles == ["EDS Pt", "HAADF"]
    read = read_volume(tmp_path / "multi.emd")
    np.testing.assert_array_equal(read.array, haadf)
    assert read.spacing == (0.2, 0.2)


def test_emd_with_several_signals_and_no_haadf_lists_them(tmp_path):
    write_emd_signals(tmp_path / "multi.emd", {"BF": ramp((6, 8)), "EDS Pt": ramp((6, 8))})
    with pytest.raises(InputError) as caught:
        read_volume(tmp_path / "multi.emd")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'multi.emd'}: 2 signals (")
    assert "'BF'" in message and "'EDS Pt'" in message


@pytest.mark.parametrize("name", ["corrupt.dm3", "corrupt.dm4", "corrupt.emd"])
def test_corrupt_file_is_one_line_error(tmp_path, capsys, name):
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 100, dtype=np.uint8).tobytes())
    for read in (read_volume, read_tilt_series):
        with pytest.raises(InputError, match=re.escape(f"{path}: cannot read {path.suffix[1:].upper()} (")):
            read(path)
    line = one_line_error(capsys, "convert", path, tmp_path / "out.nii.gz", "--spacing", "1")
    assert line.startswith(f"catseg3d: error: {path}: cannot read ")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
