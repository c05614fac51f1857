"""Gatan DM3/DM4 and EMD files through rosettasciio: arrays, axis order, spacing in nm, tilt series."""

from __future__ import annotations

import re

import h5py
import numpy as np
import pytest
from conftest import GENC2022
from rsciio.digitalmicrograph import file_reader as read_dm_raw
from rsciio.emd import file_reader as read_emd_raw
from rsciio.emd import file_writer as write_emd_raw

from catseg3d.cli.main import main
from catseg3d.io import InputError, read_nifti, read_volume
from catseg3d.io.microscope import read_tilt_series

# formats/README.md: a real HAADF tilt series, 91 x 64 x 64 uint16, -90..+90 degrees in 2 degree steps,
# 0.017995 um pixels (the README gives 5 significant digits)
HAADF_DM3 = GENC2022.parent / "formats" / "nist-etspy-haadf" / "HAADF.dm3"


@pytest.fixture(scope="module")
def haadf_dm3():
    if not HAADF_DM3.is_file():
        raise FileNotFoundError(f"real data not found at {HAADF_DM3}; set CATSEG3D_GENC2022")
    return HAADF_DM3


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
