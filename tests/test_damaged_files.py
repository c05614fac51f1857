"""Truncated copies of valid TIFF, NIfTI and MRC files: refused with one line naming the file, a
non-zero exit and no output, by `convert` and by `segment` (which streams NIfTI and MRC)."""

from __future__ import annotations

import gzip

import mrcfile
import numpy as np
import pytest
import tifffile

from catseg3d.cli.main import main
from catseg3d.io import Volume, write_nifti

STACK = np.random.default_rng(0).integers(0, 255, (5, 64, 48)).astype(np.uint8)


def tiff_stack(path, kind):
    options = {"imagej": {"imagej": True}, "plain": {"photometric": "minisblack"},
               "lzw": {"photometric": "minisblack", "compression": "lzw"}}[kind]
    tifffile.imwrite(path, STACK, **options)


def nifti(path, kind):
    write_nifti(Volume(STACK.astype(np.float32), (0.5, 0.5, 0.5)), path.with_suffix(".nii.gz"))
    if kind == "nii":
        path.write_bytes(gzip.decompress(path.with_suffix(".nii.gz").read_bytes()))
        path.with_suffix(".nii.gz").unlink()


def mrc(path, kind):
    with mrcfile.new(path) as file:
        file.set_data(STACK.astype(np.float32))
        file.voxel_size = 5.0


CASES = [("stack.tif", tiff_stack, "imagej"), ("stack.tif", tiff_stack, "plain"), ("stack.tif", tiff_stack, "lzw"),
         ("volume.nii", nifti, "nii"), ("volume.nii.gz", nifti, "gz"), ("volume.mrc", mrc, "")]


def truncated_copies(tmp_path, name, write, kind):
    """The valid file and copies cut 100 bytes short, in half, and (TIFF) just before the last page."""
    source = tmp_path / "valid" / name
    source.parent.mkdir()
    write(source if kind != "gz" else source.with_suffix(""), kind)
    data = source.read_bytes()
    cuts = {"short": len(data) - 100, "half": len(data) // 2}
    if name.endswith(".tif") and kind != "imagej":
        with tifffile.TiffFile(source) as tif:
            cuts["last_page"] = tif.pages[-1].offset  # the previous page points beyond the end
    copies = {}
    for label, cut in cuts.items():
        copy = tmp_path / label / name
        copy.parent.mkdir()
        copy.write_bytes(data[:cut])
        copies[label] = copy
    return source, copies


@pytest.mark.parametrize("name, write, kind", CASES, ids=[f"{c[2] or c[0]}" for c in CASES])
def test_truncated_files_are_refused_in_one_line(name, write, kind, tmp_path, capsys):
    source, copies = truncated_copies(tmp_path, name, write, kind)
    assert main(["convert", str(source), str(tmp_path / "valid.nii.gz"), "--spacing", "0.5"]) == 0
    capsys.readouterr()
    for label, copy in copies.items():
        commands = [["convert", str(copy), str(copy.parent / "out.nii.gz"), "--spacing", "0.5"]]
        if not name.endswith(".tif"):  # segment streams NIfTI and MRC slab by slab
            commands.append(["segment", str(copy), str(copy.parent / "labels.nii.gz")])
        for command in commands:
            assert main(command) == 2, (label, command[0])
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith(f"catseg3d: error: {copy}: "), (label, command[0], err)
            assert f"{copy}: {copy}" not in err
            assert sorted(p.name for p in copy.parent.iterdir()) == [name], (label, command[0])
