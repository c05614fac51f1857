"""The ``catseg3d`` command: a thin typed layer over the library's functions.

Bad input ends the command with one line on stderr, ``catseg3d: error: FILE: PROBLEM``, exit
status 2, and no output file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def convert_command(args: argparse.Namespace) -> None:
    from catseg3d.io import read_volume, write_nifti

    volume = read_volume(args.input, spacing=args.spacing)
    write_nifti(volume, args.output)
    print(f"{args.output}: {volume.array.shape} {volume.array.dtype}, spacing {volume.spacing} nm")


def prepare_genc2022_command(args: argparse.Namespace) -> None:
    from catseg3d.io.genc2022 import prepare_genc2022

    datalist = prepare_genc2022(args.src, args.dest)
    print(f"{datalist}: written")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catseg3d", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert", help="convert a tomogram or image to NIfTI with its spacing in nm",
        description="Read a 2D TIFF, a multi-page TIFF stack, a folder of TIFF slices (natural name "
                    "order), MRC/REC, NIfTI, NRRD or MHA and write NIfTI whose pixdim holds the "
                    "voxel size in nm (see catseg3d.io.nifti for the conventions).")
    convert.add_argument("input", type=Path, help="file or folder of TIFF slices")
    convert.add_argument("output", type=Path, help="output .nii or .nii.gz")
    convert.add_argument("--spacing", type=float, nargs="+", metavar="NM",
                         help="voxel size in nm: one value, or one per axis in z y x order "
                              "(default: from the file)")
    convert.set_defaults(func=convert_command)

    prepare = commands.add_parser(
        "prepare-genc2022", help="convert the Genc et al. (2022) patches to NIfTI and a datalist",
        description="Pair images and masks by sorted file name, check counts, shapes and labels, "
                    "and write NIfTI pairs (0.12 nm) and datalist.json (training/validation).")
    prepare.add_argument("src", type=Path, help="the authors' data folder (train/, val/)")
    prepare.add_argument("dest", type=Path, help="new output folder")
    prepare.set_defaults(func=prepare_genc2022_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from catseg3d.io.errors import InputError

    try:
        args.func(args)
    except InputError as error:
        print(f"catseg3d: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
