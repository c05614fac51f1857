"""bundle/configs/inference.yaml: the model-zoo inference workflow agrees with catseg3d segment."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np
from conftest import REPO, run_monai_bundle
from test_segment import make_bundle

from catseg3d.cli.main import main
from catseg3d.io import InputError, Volume, read_volume, write_nifti
from catseg3d.io.monai_writer import UnitKeepingNiftiWriter

CONFIGS = "['bundle/configs/train.yaml','bundle/configs/inference.yaml']"


def test_bundle_inference_equals_catseg3d_segment(tmp_path):
    bundle = make_bundle(tmp_path / "bundle", spacing_nm=(0.25, 0.12))  # the slices' own pixel size: nothing to resample
    inputs = tmp_path / "tomograms"
    inputs.mkdir()
    rng = np.random.default_rng(4)
    volumes = {"float": (rng.normal(size=(5, 40, 24)) * 300 - 2000).astype(np.float32),
               "eight_bit": rng.integers(0, 256, (4, 32, 24), dtype=np.uint8)}
    for name, array in volumes.items():
        write_nifti(Volume(array, (0.5, 0.25, 0.12)), inputs / f"{name}.nii.gz")
    command = [sys.executable, "-m", "monai.bundle", "run", "inference", "--config_file", CONFIGS,
               "--bundle_root", str(bundle), "--input_dir", str(inputs), "--inference_dir", str(tmp_path / "out"),
               "--network_def#features", "[4,8,16]", "--roi_size", "[16,16]", "--autocast", "false"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name, array in volumes.items():
        reference = tmp_path / f"{name}_reference.nii.gz"
        assert main(["segment", str(inputs / f"{name}.nii.gz"), str(reference), "--model", str(bundle),
                     "--window", "16", "--precision", "float32"]) == 0
        produced = nib.load(str(tmp_path / "out" / f"{name}_seg.nii.gz"))
        expected = nib.load(str(reference))
        assert produced.shape == expected.shape == array.shape[::-1]
        np.testing.assert_allclose(produced.affine, expected.affine, rtol=1e-6)
        labels = np.asarray(produced.dataobj)
        assert len(np.unique(labels)) > 1
        np.testing.assert_array_equal(labels, np.asarray(expected.dataobj))
        assert read_volume(tmp_path / "out" / f"{name}_seg.nii.gz").spacing == (0.5, 0.25, 0.12)


def test_bundle_inference_without_inputs_is_one_line(tmp_path):
    command = [sys.executable, "-m", "monai.bundle", "run", "inference", "--config_file", CONFIGS,
               "--input_dir", str(tmp_path / "missing")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1
    expected = f"catseg3d: error: {tmp_path / 'missing'}: no .nii or .nii.gz files to segment"
    assert result.stderr.strip().splitlines()[-1] == expected


def test_bundle_inference_resamples_to_the_models_pixel_size_like_segment(tmp_path):
    """Slices at 0.5 x 0.24 nm for a model trained at 0.25 x 0.12 nm: the workflow resamples them
    as `catseg3d segment` does (same labels), a copy stored in millimetres gives the same labels,
    and `--resample false` gives others."""
    import SimpleITK as sitk

    bundle = make_bundle(tmp_path / "bundle", spacing_nm=(0.25, 0.12), seed=3)  # a seed that gives two classes
    inputs = tmp_path / "tomograms"
    inputs.mkdir()
    array = np.random.default_rng(5).integers(0, 256, (3, 40, 24), dtype=np.uint8)
    write_nifti(Volume(array, (0.5, 0.5, 0.24)), inputs / "coarse.nii.gz")
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.24e-6, 0.5e-6, 0.5e-6))  # mm, x y z
    sitk.WriteImage(image, str(inputs / "coarse_mm.nii.gz"))
    common = ["run", "inference", "--config_file", CONFIGS, "--bundle_root", str(bundle), "--input_dir", str(inputs),
              "--network_def#features", "[4,8,16]", "--roi_size", "[16,16]", "--autocast", "false"]
    for out, extra in (("out", []), ("native", ["--resample", "false"])):
        result = run_monai_bundle(*common, "--inference_dir", str(tmp_path / out), *extra)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reference = tmp_path / "reference.nii.gz"
    assert main(["segment", str(inputs / "coarse.nii.gz"), str(reference), "--model", str(bundle), "--window", "16",
                 "--precision", "float32"]) == 0
    expected = np.asarray(nib.load(str(reference)).dataobj)
    assert expected.shape == array.shape[::-1] and len(np.unique(expected)) > 1
    for name in ("coarse", "coarse_mm"):
        produced = nib.load(str(tmp_path / "out" / f"{name}_seg.nii.gz"))
        assert produced.shape == array.shape[::-1]
        np.testing.assert_array_equal(np.asarray(produced.dataobj), expected)
        # the labels' voxel size reads as the tomogram's (MONAI's own writer: 0.24e-6 nm for the mm copy)
        assert read_volume(tmp_path / "out" / f"{name}_seg.nii.gz").spacing == (0.5, 0.5, 0.24)
    assert produced.header.get_xyzt_units()[0] == "mm"  # the input's unit, for viewers overlaying the two
    native = np.asarray(nib.load(str(tmp_path / "native" / "coarse_seg.nii.gz")).dataobj)
    assert native.shape == expected.shape and (native != expected).mean() > 0.01


def test_unit_keeping_writer_keeps_a_1_nm_file_calibrated_and_claims_nothing_for_an_uncalibrated_one(tmp_path):
    """MONAI's SaveImage with catseg3d's writer: a label file of a catseg3d 1 nm tomogram reads as
    1 nm (MONAI's NibabelWriter writes pixdim 1 with no unit: uncalibrated), one of an uncalibrated
    file stays uncalibrated."""
    import pytest
    from monai.transforms import LoadImage, SaveImage

    write_nifti(Volume(np.zeros((3, 8, 6), np.uint8), (1.0, 1.0, 1.0)), tmp_path / "one_nm.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((6, 8, 3), np.uint8), np.eye(4)), tmp_path / "uncalibrated.nii.gz")
    for writer, folder in ((UnitKeepingNiftiWriter, "kept"), (None, "monai")):
        save = SaveImage(output_dir=tmp_path / folder, output_postfix="seg", separate_folder=False, resample=False,
                         print_log=False, output_dtype=np.uint8, **({} if writer is None else {"writer": writer}))
        for name in ("one_nm", "uncalibrated"):
            save(LoadImage(image_only=True)(tmp_path / f"{name}.nii.gz"))
    assert read_volume(tmp_path / "kept" / "one_nm_seg.nii.gz").spacing == (1.0, 1.0, 1.0)
    assert nib.load(tmp_path / "kept" / "one_nm_seg.nii.gz").get_data_dtype() == np.uint8
    for path in (tmp_path / "monai" / "one_nm_seg.nii.gz", tmp_path / "kept" / "uncalibrated_seg.nii.gz"):
        with pytest.raises(InputError, match="no voxel size"):
            read_volume(path)
