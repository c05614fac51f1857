"""`catseg3d convert`: every input format round-trips values, axis order and spacing in nm."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import mrcfile
import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from catseg3d.cli.main import main
from catseg3d.io import read_volume
from catseg3d.io.atomic import current_umask


def ramp(shape, dtype=np.uint16):
    """An array whose every voxel differs, so any axis swap or flip changes it."""
    return np.arange(np.prod(shape), dtype=np.int64).reshape(shape).astype(dtype)


def convert(tmp_path, source, *extra):
    out = tmp_path / "out.nii.gz"
    assert main(["convert", str(source), str(out), *extra]) == 0
    return out


def check_nifti(out, expected, spacing):
    """The NIfTI read back by catseg3d, SimpleITK and nibabel agrees with the source array."""
    volume = read_volume(out)
    np.testing.assert_array_equal(volume.array, expected)
    assert volume.array.dtype == expected.dtype
    assert volume.spacing == spacing  # exact, not approximately
    image = sitk.ReadImage(str(out))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), expected)
    np.testing.assert_allclose(image.GetSpacing(), spacing[::-1], rtol=1e-6)
    assert out.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # not the temporary file's 0600
    nifti = nib.load(out)
    assert nifti.shape == expected.shape[::-1]  # NIfTI axes are (x, y, z)
    assert nifti.header.get_xyzt_units()[0] == "unknown"
    np.testing.assert_allclose(nifti.header.get_zooms(), spacing[::-1], rtol=1e-6)


def test_2d_tiff(tmp_path):
    image = ramp((24, 40), np.uint8)
    tifffile.imwrite(tmp_path / "slice.tif", image, compression="lzw")
    check_nifti(convert(tmp_path, tmp_path / "slice.tif", "--spacing", "0.12"), image, (0.12, 0.12))


def test_tiff_stack_with_spacing_per_axis(tmp_path):
    stack = ramp((5, 7, 9))
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    out = convert(tmp_path, tmp_path / "stack.tif", "--spacing", "0.5", "0.25", "0.12")
    check_nifti(out, stack, (0.5, 0.25, 0.12))


def test_imagej_calibrated_tiff_needs_no_spacing(tmp_path):
    stack = ramp((3, 6, 8), np.float32)
    tifffile.imwrite(tmp_path / "cal.tif", stack, imagej=True, resolution=(1 / 0.00036, 1 / 0.00024),
                     metadata={"unit": "micron", "spacing": 0.00048})
    check_nifti(convert(tmp_path, tmp_path / "cal.tif"), stack, (0.48, 0.24, 0.36))


@pytest.mark.parametrize("unit", ["\\u00C5", "angstrom"])  # Angstrom as ImageJ writes it (escaped), or spelt out
def test_imagej_tiff_in_angstrom(tmp_path, unit):
    stack = ramp((3, 6, 8), np.float32)
    tifffile.imwrite(tmp_path / "cal.tif", stack, imagej=True, resolution=(1 / 3.6, 1 / 2.4),
                     metadata={"unit": unit, "spacing": 4.8})
    check_nifti(convert(tmp_path, tmp_path / "cal.tif"), stack, (0.48, 0.24, 0.36))


def test_imagej_stack_without_spacing_has_slices_one_unit_apart(tmp_path):
    stack = ramp((3, 6, 8))  # ImageJ writes `spacing` only when the slice distance is not 1 unit
    tifffile.imwrite(tmp_path / "cal.tif", stack, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "nm"})
    check_nifti(convert(tmp_path, tmp_path / "cal.tif"), stack, (1.0, 0.5, 0.5))


def test_mrc_float16_is_written_as_float32(tmp_path):
    volume = ramp((2, 4, 6), np.float16)
    with mrcfile.new(tmp_path / "half.mrc") as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = 5.0
    out = convert(tmp_path, tmp_path / "half.mrc")
    np.testing.assert_array_equal(read_volume(out).array, volume.astype(np.float32))
    assert read_volume(out).spacing == (0.5, 0.5, 0.5)


def test_folder_of_slices_in_natural_order(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    stack = ramp((12, 6, 10))
    for index, image in enumerate(stack):  # slice_2 must come before slice_10
        tifffile.imwrite(folder / f"slice_{index + 1}.tif", image)
    check_nifti(convert(tmp_path, folder, "--spacing", "0.3"), stack, (0.3, 0.3, 0.3))


def test_mrc_voxel_size_from_header(tmp_path):
    volume = ramp((4, 6, 10), np.float32)
    with mrcfile.new(tmp_path / "tomo.rec") as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = (1.2, 2.4, 3.6)  # x, y, z in Angstrom
    check_nifti(convert(tmp_path, tmp_path / "tomo.rec"), volume, (0.36, 0.24, 0.12))


def test_nifti_in_micron_comes_out_in_nm(tmp_path):
    volume = ramp((3, 4, 5), np.int16)
    image = nib.Nifti1Image(np.transpose(volume), np.diag([0.00012, 0.00024, 0.00036, 1.0]))
    image.header.set_xyzt_units(xyz="micron")
    nib.save(image, tmp_path / "in.nii")
    check_nifti(convert(tmp_path, tmp_path / "in.nii"), volume, (0.36, 0.24, 0.12))


def test_nifti_saved_again_by_itk_is_read_as_its_header_says(tmp_path):
    """ITK (SimpleITK, ITK-SNAP, 3D Slicer) writes the unit code mm over catseg3d's nm numbers:
    alone, the file is read in mm as its header says (segment then refuses it, naming --spacing);
    beside its image, it takes the image's voxel size."""
    from catseg3d.inferers import resampling_scale
    from catseg3d.io.volume import agree_on_units

    volume = ramp((3, 4, 5), np.int16)
    nib.save(nib.Nifti1Image(np.transpose(volume), np.diag([0.12, 0.24, 0.36, 1.0])), tmp_path / "in.nii")
    ours = convert(tmp_path, tmp_path / "in.nii")
    sitk.WriteImage(sitk.ReadImage(str(ours)), str(tmp_path / "itk.nii.gz"))
    assert nib.load(tmp_path / "itk.nii.gz").header.get_xyzt_units()[0] == "mm"
    saved = read_volume(tmp_path / "itk.nii.gz")
    np.testing.assert_array_equal(saved.array, volume)
    assert saved.spacing == pytest.approx((0.36e6, 0.24e6, 0.12e6))
    with pytest.raises(ValueError, match=r"1e\+06x the model's .* save NIfTI as mm\), give the voxel size with "
                                         r"--spacing NM"):
        resampling_scale(saved.spacing[1:], (0.24, 0.12))
    assert agree_on_units(read_volume(ours), saved)[1].spacing == (0.36, 0.24, 0.12)
    from monai.transforms import LoadImage

    from catseg3d.io.nifti import loaded_spacing_nm

    loaded = loaded_spacing_nm(LoadImage(image_only=True)(str(tmp_path / "itk.nii.gz")), 3)
    assert loaded == pytest.approx(saved.spacing)  # the bundle workflows' MONAI loading reads the same


def test_uncalibrated_nifti_asks_for_the_voxel_size(tmp_path):
    """pixdim 1 with the unit unknown is nibabel's default header, not a 1 nm voxel."""
    volume = ramp((3, 4, 5), np.int16)
    nib.save(nib.Nifti1Image(np.transpose(volume), np.eye(4)), tmp_path / "plain.nii.gz")
    result = run_cli("convert", tmp_path / "plain.nii.gz", tmp_path / "out.nii.gz")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"catseg3d: error: {tmp_path / 'plain.nii.gz'}: the file holds no voxel size; "
                                     "pass --spacing NM")
    check_nifti(convert(tmp_path, tmp_path / "plain.nii.gz", "--spacing", "0.12"), volume, (0.12, 0.12, 0.12))
    labels = read_volume(tmp_path / "plain.nii.gz", fallback_spacing=(0.5, 0.25, 0.12))  # labels beside an image
    assert labels.spacing == (0.5, 0.25, 0.12)
    from monai.transforms import LoadImage

    from catseg3d.io.nifti import loaded_spacing_nm

    with pytest.raises(ValueError, match="plain.nii.gz: the file holds no voxel size"):
        loaded_spacing_nm(LoadImage(image_only=True)(str(tmp_path / "plain.nii.gz")), 3)


@pytest.mark.parametrize("unit", ["mm", "micron", "meter"])
def test_labels_saved_in_another_unit_agree_with_their_image(tmp_path, unit):
    """A label file an editor saved with the image's numbers under the unit code mm (or another)
    takes the image's voxel size, in either order; sizes that are not one unit apart stay."""
    from catseg3d.io.volume import Volume, agree_on_units

    labels = ramp((3, 4, 5), np.uint8)
    image = nib.Nifti1Image(np.transpose(labels), np.diag([0.12, 0.24, 0.36, 1.0]))
    image.header.set_xyzt_units(xyz=unit)
    nib.save(image, tmp_path / "labels.nii.gz")
    factor = {"mm": 1e6, "micron": 1e3, "meter": 1e9}[unit]
    saved = read_volume(tmp_path / "labels.nii.gz")
    assert saved.spacing == pytest.approx((0.36 * factor, 0.24 * factor, 0.12 * factor))
    tomogram = Volume(labels.astype(np.float32), (0.36, 0.24, 0.12))
    for agreed_labels, agreed_tomogram in (agree_on_units(saved, tomogram), agree_on_units(tomogram, saved)[::-1]):
        assert agreed_labels.spacing == (0.36, 0.24, 0.12) and agreed_tomogram is tomogram
        np.testing.assert_allclose(agreed_labels.affine, np.diag([0.12, 0.24, 0.36, 1.0]))
        np.testing.assert_array_equal(agreed_labels.array, labels)
    other = Volume(labels, (0.36, 0.24, 0.24))  # not one unit apart
    assert agree_on_units(saved, other)[0] is saved
    smaller = Volume(labels[:, :, :4], (0.36, 0.24, 0.12))  # another shape: not the same image
    assert agree_on_units(saved, smaller)[0] is saved
    # saved from an image that held no voxel size (a TIFF given --spacing): spacing 1 in that unit
    default = Volume(labels, (factor,) * 3)
    assert agree_on_units(tomogram, default)[1].spacing == (0.36, 0.24, 0.12)
    assert agree_on_units(Volume(labels, (2 * factor,) * 3), tomogram)[0].spacing == (2 * factor,) * 3  # 2 units


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_simpleitk_formats(tmp_path, suffix):
    volume = ramp((3, 4, 5), np.float32)
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((0.12, 0.25, 0.5))  # x, y, z
    sitk.WriteImage(image, str(tmp_path / f"in{suffix}"))
    check_nifti(convert(tmp_path, tmp_path / f"in{suffix}"), volume, (0.5, 0.25, 0.12))


def run_cli(*args):
    """The command line in this process: its exit status and stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        returncode = main(list(map(str, args)))
    return subprocess.CompletedProcess(args, returncode, "", stderr.getvalue())


def test_missing_spacing_is_one_line_error_and_no_output(tmp_path):
    """Through the installed entry point (``python -m catseg3d``), as a user meets it."""
    tifffile.imwrite(tmp_path / "plain.tif", ramp((8, 8)))
    result = subprocess.run([sys.executable, "-m", "catseg3d", "convert", str(tmp_path / "plain.tif"),
                             str(tmp_path / "out.nii.gz")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"catseg3d: error: {tmp_path / 'plain.tif'}: the file holds no voxel size; pass --spacing NM"
    assert not list(tmp_path.glob("*.nii*")) and not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize("name", ["broken.tif", "broken.png", "broken.mrc", "broken.nii.gz", "broken.xyz"])
def test_unreadable_file_is_one_line_error_and_no_output(tmp_path, name):
    (tmp_path / name).write_bytes(b"this is not an image" * 10)
    result = run_cli("convert", tmp_path / name, tmp_path / "out.nii.gz", "--spacing", "1")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"catseg3d: error: {tmp_path / name}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_colour_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((32, 48, 3), np.uint8), photometric="rgb")
    result = run_cli("convert", tmp_path / "rgb.tif", tmp_path / "out.nii.gz", "--spacing", "1")
    assert result.returncode == 2 and "colour image" in result.stderr
    assert not (tmp_path / "out.nii.gz").exists()


@pytest.mark.parametrize("output, problem", [("out.nrrd", "output must end in .nii or .nii.gz"),
                                             ("missing/out.nii.gz", "does not exist")])
def test_bad_output_path_is_one_line_error(tmp_path, output, problem):
    tifffile.imwrite(tmp_path / "plain.tif", ramp((8, 8)))
    result = run_cli("convert", tmp_path / "plain.tif", tmp_path / output, "--spacing", "1")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and problem in result.stderr


def test_folder_with_unequal_slices_is_an_error(tmp_path):
    tifffile.imwrite(tmp_path / "a1.tif", ramp((8, 8)))
    tifffile.imwrite(tmp_path / "a2.tif", ramp((8, 9)))
    result = run_cli("convert", tmp_path, tmp_path / "out.nii.gz", "--spacing", "1")
    assert result.returncode == 2 and "a2.tif" in result.stderr and "(8, 9)" in result.stderr
    assert not (tmp_path / "out.nii.gz").exists()


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_position_and_orientation_are_kept_in_nm(tmp_path, suffix):
    """Every voxel of the output lies where it lay in the input: SimpleITK maps the same index to
    the same physical point (the input in mm for NIfTI, whose unit catseg3d converts; NRRD carries
    no unit and is taken as nm)."""
    volume = ramp((3, 4, 5), np.int16)
    image = sitk.GetImageFromArray(volume)
    mm = suffix.startswith(".nii")
    image.SetSpacing(tuple(s * (1e-6 if mm else 1) for s in (0.12, 0.25, 0.5)))  # x, y, z
    image.SetOrigin(tuple(o * (1e-6 if mm else 1) for o in (10.0, -20.0, 30.0)))
    image.SetDirection((-1, 0, 0, 0, 0, 1, 0, -1, 0))  # x flipped, y and z swapped in space
    sitk.WriteImage(image, str(tmp_path / f"in{suffix}"))
    out = sitk.ReadImage(str(convert(tmp_path, tmp_path / f"in{suffix}")))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), volume)
    for index in [(0, 0, 0), (4, 0, 0), (0, 3, 0), (0, 0, 2), (4, 3, 2)]:
        expected = np.array(image.TransformIndexToPhysicalPoint(index)) * (1e6 if mm else 1)
        np.testing.assert_allclose(out.TransformIndexToPhysicalPoint(index), expected, rtol=1e-5, atol=1e-4)


def test_spacing_given_on_the_command_line_drops_the_files_position(tmp_path):
    volume = ramp((3, 4, 5), np.int16)
    affine = np.diag([0.12, 0.25, 0.5, 1.0])
    affine[:3, 3] = (10.0, 20.0, 30.0)
    nib.save(nib.Nifti1Image(np.transpose(volume), affine), tmp_path / "in.nii")
    assert np.allclose(read_volume(tmp_path / "in.nii").affine, affine)
    out = nib.load(convert(tmp_path, tmp_path / "in.nii", "--spacing", "1", "2", "3"))
    np.testing.assert_allclose(out.affine, np.diag([3.0, 2.0, 1.0, 1.0]))


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mrc", ".tif", ".nrrd"])
def test_opened_lazily_or_read_whole_the_same_volume(tmp_path, suffix):
    """``open_slabs`` (slab by slab) and ``read_volume`` (whole) give the same array, spacing in nm
    and placement, for formats streamed through their reader (NIfTI, MRC) and read whole (TIFF, NRRD)."""
    from catseg3d.io.slabs import open_slabs

    volume = ramp((6, 4, 5), np.int16)
    path = tmp_path / f"in{suffix}"
    if suffix.startswith(".nii"):
        affine = np.diag([0.12, 0.25, 0.5, 1.0])
        affine[:3, 3] = (10.0, 20.0, 30.0)
        nib.save(nib.Nifti1Image(np.transpose(volume), affine), path)
    elif suffix == ".mrc":
        with mrcfile.new(path) as mrc:
            mrc.set_data(volume)
            mrc.voxel_size = (5.0, 2.5, 1.2)  # Angstrom, x y z
    elif suffix == ".tif":
        tifffile.imwrite(path, volume)
    else:
        image = sitk.GetImageFromArray(volume)
        image.SetSpacing((0.12, 0.25, 0.5))
        image.SetOrigin((10.0, 20.0, 30.0))
        sitk.WriteImage(image, str(path))
    spacing = (0.5, 0.25, 0.12) if suffix != ".mrc" else (0.12, 0.25, 0.5)
    whole = read_volume(path, spacing=spacing if suffix == ".tif" else None)
    with open_slabs(path, spacing=spacing if suffix == ".tif" else None) as reader:
        np.testing.assert_array_equal(reader.read(2, 5), volume[2:5])
        lazy = reader.load()
    np.testing.assert_array_equal(lazy.array, volume)
    np.testing.assert_array_equal(whole.array, volume)
    assert lazy.spacing == whole.spacing == spacing
    if suffix in (".nii", ".nii.gz", ".nrrd"):
        assert lazy.affine is not None and np.allclose(lazy.affine, whole.affine)
        np.testing.assert_allclose(lazy.affine[:3, 3], (10.0, 20.0, 30.0) if suffix != ".nrrd" else (-10.0, -20.0, 30.0))
    else:
        assert lazy.affine is None and whole.affine is None


@pytest.mark.parametrize("flags, expected", [(0, np.uint8), (1, np.int8), (None, np.int8)])
def test_imod_unsigned_bytes_are_read_unsigned(tmp_path, flags, expected):
    """Mode-0 MRC: signed bytes (MRC2014), unless IMOD's header stamp says they are unsigned
    (imodStamp 1146047817 at byte 152, bit 0 of imodFlags at byte 156 clear)."""
    from catseg3d.io.slabs import open_slabs

    values = np.arange(0, 256, 8, dtype=np.uint8).reshape(2, 4, 4)  # bright voxels above 127
    path = tmp_path / "bytes.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(values.view(np.int8))
        mrc.voxel_size = 1.2
        if flags is not None:
            header = bytearray(mrc.header.tobytes())
            header[152:160] = np.array([1146047817, flags], "<i4").tobytes()
            mrc.header.extra2 = bytes(header[112:196])
    with open(path, "rb") as raw:  # the stamp where IMOD puts it
        raw.seek(152)
        assert np.frombuffer(raw.read(8), "<i4").tolist() == ([1146047817, flags] if flags is not None else [0, 0])
    volume = read_volume(path)
    assert volume.array.dtype == expected
    np.testing.assert_array_equal(volume.array, values.view(expected))
    with open_slabs(path) as reader:
        np.testing.assert_array_equal(reader.read(0, 2), values.view(expected))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grey_png_and_a_folder_of_png_slices(tmp_path, dtype):
    """PNG written by SimpleITK (another library than the reader); PNG holds no pixel size."""
    image = ramp((6, 10), dtype)
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "slice.png"))
    check_nifti(convert(tmp_path, tmp_path / "slice.png", "--spacing", "0.25"), image, (0.25, 0.25))
    folder = tmp_path / "slices"
    folder.mkdir()
    stack = ramp((11, 6, 10), dtype)
    for index, plane in enumerate(stack):  # slice_2 must come before slice_10
        sitk.WriteImage(sitk.GetImageFromArray(plane), str(folder / f"slice_{index + 1}.png"))
    check_nifti(convert(tmp_path, folder, "--spacing", "0.3"), stack, (0.3, 0.3, 0.3))
    result = run_cli("convert", tmp_path / "slice.png", tmp_path / "nospacing.nii.gz")
    assert result.returncode == 2 and result.stderr.strip().endswith("the file holds no voxel size; pass --spacing NM")
    assert not (tmp_path / "nospacing.nii.gz").exists()


def test_rgb_png_with_equal_channels_is_grey_and_colour_png_is_refused(tmp_path):
    grey = ramp((8, 12), np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(np.stack([grey] * 3, axis=-1), isVector=True), str(tmp_path / "rgb.png"))
    check_nifti(convert(tmp_path, tmp_path / "rgb.png", "--spacing", "1"), grey, (1.0, 1.0))
    colour = np.stack([grey, grey, grey[::-1]], axis=-1)
    sitk.WriteImage(sitk.GetImageFromArray(colour, isVector=True), str(tmp_path / "colour.png"))
    result = run_cli("convert", tmp_path / "colour.png", tmp_path / "colour.nii.gz", "--spacing", "1")
    assert result.returncode == 2 and "colour" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "colour.nii.gz").exists()


def test_16_bit_colour_png_is_refused_not_cut_to_8_bits(tmp_path):
    grey = ramp((8, 12), np.uint16) * 500  # values beyond 8 bits
    sitk.WriteImage(sitk.GetImageFromArray(np.stack([grey] * 3, axis=-1), isVector=True), str(tmp_path / "rgb16.png"))
    assert sitk.ReadImage(str(tmp_path / "rgb16.png")).GetPixelID() == sitk.sitkVectorUInt16
    result = run_cli("convert", tmp_path / "rgb16.png", tmp_path / "out.nii.gz", "--spacing", "1")
    assert result.returncode == 2 and "16-bit PNG with colour" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.nii.gz").exists()


def test_grey_png_with_a_transparency_key_is_refused(tmp_path):
    from PIL import Image  # scikit-image's PNG reader; SimpleITK writes no tRNS chunk

    grey = ramp((8, 12), np.uint8)
    Image.fromarray(grey).save(tmp_path / "keyed.png", transparency=0)
    assert b"tRNS" in (tmp_path / "keyed.png").read_bytes()
    result = run_cli("convert", tmp_path / "keyed.png", tmp_path / "out.nii.gz", "--spacing", "1")
    assert result.returncode == 2 and "transparency key" in result.stderr and "keyed.png" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.nii.gz").exists()
    Image.fromarray(grey).save(tmp_path / "plain.png")  # the same image without the key reads as grey
    check_nifti(convert(tmp_path, tmp_path / "plain.png", "--spacing", "1"), grey, (1.0, 1.0))


def test_folder_mixing_tiff_and_png_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", ramp((4, 4)))
    sitk.WriteImage(sitk.GetImageFromArray(ramp((4, 4))), str(tmp_path / "b.png"))
    result = run_cli("convert", tmp_path, tmp_path / "out.nii.gz", "--spacing", "1")
    assert result.returncode == 2 and "both TIFF (1) and PNG (1)" in result.stderr
    assert not (tmp_path / "out.nii.gz").exists()
