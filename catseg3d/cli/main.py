"""The ``catseg3d`` command: a thin typed layer over the library's functions.

Bad input ends the command with one line on stderr, ``catseg3d: error: FILE: PROBLEM``, exit
status 2, and no output file.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catseg3d.io import Volume


def convert_command(args: argparse.Namespace) -> None:
    from catseg3d.io import read_volume, write_nifti
    from catseg3d.io.nifti import check_nifti_output

    check_nifti_output(args.output, inputs=[args.input])  # before the (possibly long) read
    volume = read_volume(args.input, spacing=args.spacing)
    write_nifti(volume, args.output)
    print(f"{args.output}: {volume.array.shape} {volume.array.dtype}, spacing {volume.spacing} nm")


def prepare_genc2022_command(args: argparse.Namespace) -> None:
    from catseg3d.io.genc2022 import prepare_genc2022

    datalist = prepare_genc2022(args.src, args.dest)
    print(f"{datalist}: written")


def evaluate_command(args: argparse.Namespace) -> None:
    import numpy as np

    from catseg3d.io import InputError, read_volume
    from catseg3d.io.confusion_csv import read_confusion_folder
    from catseg3d.io.volume import agree_on_units
    from catseg3d.io.pairing import pair_by_name
    from catseg3d.metrics import Evaluation, write_report

    evaluation = Evaluation(percentiles=tuple(args.percentiles))
    if args.confusion_matrices is not None:
        for name, matrix in read_confusion_folder(args.confusion_matrices).items():
            try:
                evaluation.add_confusion(name, matrix)
            except ValueError as error:
                raise InputError(args.confusion_matrices / f"{name}.csv", str(error)) from error
    else:
        if args.pred is None or args.truth is None:
            raise InputError("evaluate", "give --pred and --truth, or --confusion-matrices")
        images = {}  # keyed by the truth's file name, as the pairs below are
        if args.images:
            images = {truth_file.name: image_file
                      for _, truth_file, image_file in pair_by_name(args.truth, args.images)}
        for name, pred_file, truth_file in pair_by_name(args.pred, args.truth):
            truth = read_volume(truth_file, fallback_spacing=args.spacing)
            pred = read_volume(pred_file, fallback_spacing=truth.spacing)
            image = read_volume(images[name], fallback_spacing=truth.spacing) if name in images else None
            truth, pred, *_ = agree_on_units(truth, pred, *([image] if image is not None else []))
            if pred.array.shape != truth.array.shape:
                raise InputError(pred_file, f"shape {pred.array.shape} differs from the truth's {truth.array.shape}")
            if not np.allclose(pred.spacing, truth.spacing, rtol=1e-6):
                raise InputError(pred_file, f"spacing {pred.spacing} nm differs from the truth's {truth.spacing} nm")
            image = None if image is None else image.array
            add = evaluation.add_slices if args.per_slice else evaluation.add
            try:
                add(name, pred.array, truth.array, truth.spacing, image)
            except ValueError as error:
                raise InputError(pred_file, str(error)) from error
    report = write_report(evaluation, args.out)
    print(f"{args.out}: report of {report['n_images']} images written")


def read_label_map(path: Path, spacing: list[float] | None,
                   fallback_spacing: tuple[float, ...] | None = None) -> Volume:
    """A label map (integers 0, 1, 2) read with :func:`catseg3d.io.read_volume`; InputError otherwise."""
    from catseg3d.io import InputError, read_volume

    labels = read_volume(path, spacing=spacing, fallback_spacing=fallback_spacing)
    if labels.array.dtype.kind not in "iub" or labels.array.min() < 0 or labels.array.max() > 2:
        raise InputError(path, f"expected integer labels 0, 1, 2, got {labels.array.dtype} values "
                               f"in [{labels.array.min()}, {labels.array.max()}]")
    return labels


def quantify_command(args: argparse.Namespace) -> None:
    from catseg3d.io import InputError, read_volume
    from catseg3d.io.volume import agree_on_units
    from catseg3d.quantify import write_quantification
    from catseg3d.quantify.report import check_reference

    if not args.open_pore_radius >= 0:
        raise InputError("--open-pore-radius",
                         f"must be 0 (off) or a positive radius in nm, got {args.open_pore_radius}")
    labels = read_label_map(args.labels, args.spacing)
    image = reference = None
    if args.image is not None:
        image = read_volume(args.image, fallback_spacing=labels.spacing)
        if image.array.shape != labels.array.shape:
            raise InputError(args.image, f"shape {image.array.shape} differs from the labels' {labels.array.shape}")
    if args.reference is not None:
        reference = read_label_map(args.reference, args.spacing, labels.spacing)
    if args.spacing is None:  # files of one image, in one unit (an explicit --spacing stays as given)
        agreed = iter(agree_on_units(*(v for v in (labels, image, reference) if v is not None)))
        labels, image, reference = (None if v is None else next(agreed) for v in (labels, image, reference))
    if reference is not None:
        try:
            check_reference(labels, reference)
        except ValueError as error:
            raise InputError(args.reference, str(error)) from error
    stats = write_quantification(labels, args.out, min_voxels=args.min_size, mesh_format=args.meshes, image=image,
                                 open_pore_radius_nm=args.open_pore_radius, reference=reference)
    size = " x ".join(f"{v:g}" for v in labels.spacing)
    print(f"{args.out}: {stats['pt']['count']} Pt particles at a voxel size of {size} nm; stats.json, particles.csv, "
          "report.md written"
          + ("" if reference is None else f" (against {args.reference})"))


def segment_command(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    from catseg3d.engines import init_distributed, leave_distributed
    from catseg3d.engines import rank as process_rank
    from catseg3d.inference.model import load_segmentation_model
    from catseg3d.inference.predictor import Predictor
    from catseg3d.inference.segment import AXIS_PLANES, segment
    from catseg3d.io import InputError

    planes = tuple(p.strip() for p in args.planes.split(",")) if args.planes else (AXIS_PLANES[args.axis],)
    model = load_segmentation_model(args.model)  # before any work: a bad model fails fast
    device = init_distributed()  # joins torchrun's process group, if any: one GPU per process
    if args.device is not None and not dist.is_initialized():
        device = torch.device(args.device)
    try:
        predictor = Predictor(model, window=args.window or None, overlap=args.overlap, blend=args.blend,
                              tta=args.tta, border=args.border, precision=args.precision,
                              sw_batch_size=args.sw_batch_size, device=device, resample=args.resample)
    except ValueError as error:
        raise InputError("--window/--overlap/--border/--sw-batch-size", str(error)) from error
    rank = process_rank()
    try:
        summary = segment(args.input, args.output, predictor, planes=planes,
                          probabilities_path=args.probabilities, min_size=args.min_size,
                          intensity=args.intensity, spacing=args.spacing, slab=args.slab, report=print)
    except BaseException:
        if dist.is_initialized():  # no barrier: the other processes may have failed too
            dist.destroy_process_group()
        raise
    leave_distributed()  # together, once rank 0 has written the output
    if rank == 0:
        print(summary.line(args.output))


def resolve_tilt_axis(series, requested: str, path: Path) -> str:
    """The tilt axis to reconstruct with: ``requested`` (``y``/``x``), with a warning on stderr when
    the projections clearly fit the other axis; for ``auto``, the axis they fit
    (:mod:`catseg3d.tomography.tilt_axis`), or an error when the check cannot tell."""
    from catseg3d.io import InputError
    from catseg3d.tomography.tilt_axis import likely_tilt_axis, tilt_axis_misfit

    if len(series.angles) < 4:  # three parameters per sinusoid
        if requested == "auto":
            raise InputError(path, f"{len(series.angles)} tilt angles are too few to find the tilt axis (at least 4); "
                                   "pass --tilt-axis y or x")
        return requested
    misfit = tilt_axis_misfit(series.projections, series.angles)
    likely = likely_tilt_axis(misfit)
    evidence = f"centroids of the projection lines off their sinusoid by {misfit['y']:.2f} px rms for y, " \
               f"{misfit['x']:.2f} px for x"
    if requested == "auto":
        if likely is None:
            raise InputError(path, f"cannot tell the tilt axis from the projections ({evidence}); "
                                   "pass --tilt-axis y or x")
        return likely
    if likely is not None and likely != requested:
        print(f"catseg3d: warning: {path}: the projections fit a tilt axis along {likely} better than the "
              f"requested {requested} ({evidence})", file=sys.stderr)
    return requested


def reconstruct_command(args: argparse.Namespace) -> None:
    from catseg3d.io import InputError, Volume, write_nifti
    from catseg3d.io.nifti import check_nifti_output
    from catseg3d.io.tilt import load_tilt_series
    from catseg3d.tomography import reconstruct_tilt_series

    check_nifti_output(args.output, inputs=[p for p in (args.tilt_series, args.angles) if p is not None])
    series = load_tilt_series(args.tilt_series, args.angles, args.spacing)
    tilt_axis = resolve_tilt_axis(series, args.tilt_axis, args.tilt_series)
    try:
        volume = reconstruct_tilt_series(series.projections, series.angles, args.method, args.iterations,
                                         args.thickness, tilt_axis, progress=True)
    except ValueError as error:
        raise InputError(args.tilt_series, str(error)) from error
    pixel_y, pixel_x = series.pixel_size
    pixel_z = pixel_x if tilt_axis == "y" else pixel_y  # z is sampled like the axis across the tilt axis
    write_nifti(Volume(volume, (pixel_z, pixel_y, pixel_x)), args.output)
    print(f"{args.output}: {args.method.upper()} x {args.iterations} of {len(series.angles)} projections "
          f"({series.angles.min():g} to {series.angles.max():g} degrees), volume {volume.shape} (z, y, x), "
          f"voxels {pixel_z:g} x {pixel_y:g} x {pixel_x:g} nm, tilt axis along {tilt_axis}")


def json_object(text: str) -> dict:
    """An argument that is a JSON object (field name to value); anything else is a usage error."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error.msg}): {text}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{\"field\": value, ...}}, got {text}")
    return value


def simulate_command(args: argparse.Namespace) -> None:
    from catseg3d.io import InputError
    from catseg3d.simulation import simulate_series
    from catseg3d.simulation.settings import imaging_parameters, specimen_parameters

    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise InputError(args.out_dir, "exists and is not a folder")
    try:
        written = simulate_series(args.out_dir, args.n, args.shape, args.seed, args.spacing,
                                  None if args.noise_free else args.dose, args.method, args.iterations, args.first,
                                  imaging=imaging_parameters(args.imaging), specimen=specimen_parameters(args.specimen))
    except ValueError as error:  # bad arguments, or a specimen that does not fit the shape
        raise InputError(args.out_dir, str(error)) from error
    print(f"{args.out_dir}: {len(written)} simulated volume(s) {tuple(args.shape)} (z, y, x) at {args.spacing:g} nm, "
          f"seed {args.seed}: reconstruction.nii.gz, labels.nii.gz, tilt_series.mrc (+ .rawtlt), truth.json each")


def finetune_command(args: argparse.Namespace) -> None:
    from catseg3d.finetune import finetune

    result = finetune(args.images, args.labels, args.out, model=args.model, minutes=args.minutes,
                      spacing=args.spacing, classes=args.classes, intensity=args.intensity, resume=args.resume,
                      seed=args.seed, report=print)
    print(result.line())


def label_slices_command(args: argparse.Namespace) -> None:
    from catseg3d.io import InputError, Volume, read_volume, write_nifti
    from catseg3d.io.labels import keep_slices
    from catseg3d.io.nifti import check_nifti_output

    check_nifti_output(args.output, inputs=[args.labels])
    labels = read_volume(args.labels, fallback_spacing=args.spacing)
    if labels.array.ndim != 3:
        raise InputError(args.labels, f"slices are chosen from a 3D label volume, got a {labels.array.ndim}D image of "
                                      f"shape {labels.array.shape} (correct a 2D label image as it is)")
    if labels.array.dtype.kind not in "iub":
        raise InputError(args.labels, f"expected integer labels, got {labels.array.dtype} values")
    try:
        kept = keep_slices(labels.array, {0: args.z or [], 1: args.y or [], 2: args.x or []})
    except ValueError as error:
        raise InputError(args.labels, str(error)) from error
    write_nifti(Volume(kept, labels.spacing, labels.affine), args.output)
    print(f"{args.output}: {int((kept != 255).sum())} labelled voxels in "
          f"{len(args.z or []) + len(args.y or []) + len(args.x or [])} slice(s), 255 elsewhere; correct them, "
          "then catseg3d finetune --images IMAGE --labels " + str(args.output))


def pack_command(args: argparse.Namespace) -> None:
    from catseg3d.share import pack_bundle

    pack_bundle(args.bundle, args.output)
    print(f"{args.output}: packed; install with python -m monai.bundle download --name NAME "
          f"--url file://{args.output.resolve()} --bundle_dir DIR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catseg3d", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert", help="convert a tomogram or image to NIfTI with its spacing in nm",
        description="Read a 2D TIFF, a multi-page TIFF stack, a folder of TIFF slices (natural name "
                    "order), a grey PNG or a folder of PNG slices (with --spacing: PNG holds no pixel size), "
                    "MRC/REC, NIfTI, NRRD, MHA, Gatan DM3/DM4 or EMD (Velox, Berkeley) and "
                    "write NIfTI whose pixdim holds the voxel size in nm (see catseg3d.io.nifti for the conventions).")
    convert.add_argument("input", type=Path, help="file or folder of TIFF or PNG slices")
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

    evaluate = commands.add_parser(
        "evaluate", help="score label maps (or the authors' confusion matrices) like the paper",
        description="Per-class DSC, precision and recall (mean ± 95 % CI over images, pooled) and "
                    "robust Hausdorff distances in nm (mean ± SE); writes report.json, report.md, "
                    "per_image.csv and figures into --out.")
    evaluate.add_argument("--pred", type=Path, help="predicted label map, or a folder of them")
    evaluate.add_argument("--truth", type=Path, help="ground-truth label map, or a folder (paired by file name)")
    evaluate.add_argument("--images", type=Path, help="intensity images (same names as --truth) for the figure "
                                                      "of the worst images")
    evaluate.add_argument("--confusion-matrices", type=Path, help="folder of per-image confusion-matrix CSVs "
                                                                  "(the authors' layout) instead of label maps")
    evaluate.add_argument("--spacing", type=float, nargs="+", metavar="NM",
                          help="voxel size of the truth in nm if its files hold none (one value or z y x)")
    evaluate.add_argument("--per-slice", action="store_true", help="score each z slice of 3D volumes as an image")
    evaluate.add_argument("--percentiles", type=float, nargs="+", default=[50, 75, 90, 95, 99, 100],
                          metavar="Q", help="robust-Hausdorff percentiles (default: 50 75 90 95 99 100)")
    evaluate.add_argument("--out", type=Path, required=True, help="output folder")
    evaluate.set_defaults(func=evaluate_command)

    quantify = commands.add_parser(
        "quantify", help="Pt particles, alumina surfaces and pores of a label map, in nm",
        description="Pt particles (26-connected: volume, equivalent diameter, centroid, attachment "
                    "to alumina, distance to it), alumina volume and external surface area, enclosed "
                    "pores (volume fraction, surface, sizes) and open pores (background inside the "
                    "alumina closed by a ball, holes filled, not enclosed: volume fraction, sizes); "
                    "writes stats.json, particles.csv, report.md.")
    quantify.add_argument("labels", type=Path, help="label map (0 background/pores, 1 alumina, 2 Pt)")
    quantify.add_argument("--image", type=Path, help="the intensity volume, drawn under the labels")
    quantify.add_argument("--out", type=Path, required=True, help="output folder")
    quantify.add_argument("--min-size", type=int, default=1, metavar="VOXELS",
                          help="leave out Pt particles smaller than this (default 1)")
    quantify.add_argument("--spacing", type=float, nargs="+", metavar="NM",
                          help="voxel size in nm, overriding the file's (and the reference's)")
    quantify.add_argument("--open-pore-radius", type=float, default=3.0, metavar="NM",
                          help="radius of the ball that closes the alumina into the envelope whose "
                               "non-enclosed background counts as open pores (default 3 nm; 0: off)")
    quantify.add_argument("--meshes", choices=["ply", "stl", "vtk", "vtu", "obj"],
                          help="also write alumina and Pt surface meshes in nm (3D maps) for ParaView")
    quantify.add_argument("--reference", type=Path, metavar="LABELS",
                          help="a label map of the same shape and spacing (e.g. the ground truth) to quantify "
                               "too: report.md gets a table of both and their differences in %%")
    quantify.set_defaults(func=quantify_command)

    seg = commands.add_parser(
        "segment", help="segment a whole tomogram with a trained model (bounded memory)",
        description="Label every voxel (0 background/pores, 1 alumina, 2 Pt) of anything convert "
                    "reads. A 2D model runs slice by slice, a 3D model in 3D windows; NIfTI and MRC "
                    "inputs are streamed slab by slab. Under torchrun (python -m catseg3d) the "
                    "slices are shared between the processes.")
    seg.add_argument("input", type=Path, help="tomogram (any format convert reads)")
    seg.add_argument("output", type=Path, help="output labels, .nii or .nii.gz (uint8, input geometry)")
    seg.add_argument("--model", type=Path, help="bundle folder or a model.pt in its models/ folder "
                                                 "(default: the shipped model; $CATSEG3D_BUNDLE overrides)")
    seg.add_argument("--axis", choices=["z", "y", "x"], default="z",
                     help="axis the 2D model steps along (default z: xy slices)")
    seg.add_argument("--planes", help="comma-separated slice planes averaged (tri-planar: xy,xz,yz); "
                                      "overrides --axis")
    seg.add_argument("--window", type=int, default=0, metavar="PIXELS",
                     help="sliding-window size (a multiple of 32, e.g. 512); 0 (default) runs each "
                          "slice whole")
    seg.add_argument("--overlap", type=float, default=0.25, help="window overlap fraction (default 0.25)")
    seg.add_argument("--blend", choices=["gaussian", "spline"], default="gaussian",
                     help="window blending: MONAI's gaussian or the paper's spline (default gaussian)")
    seg.add_argument("--tta", action="store_true", help="average over flips (4 per slice, 8 per 3D block)")
    seg.add_argument("--border", type=int, default=32, metavar="PIXELS",
                     help="mirrored image added around each slice (3D: block) before the network and "
                          "cropped after, so that edges are not seen against zero padding (default 32; 0: off)")
    seg.add_argument("--probabilities", type=Path, metavar="P.nii.gz",
                     help="also write class probabilities (4D, uint8 scaled by 1/255)")
    seg.add_argument("--min-size", type=int, default=0, metavar="VOXELS",
                     help="relabel components smaller than this by their surroundings (default off; "
                          "the labels only, not --probabilities)")
    seg.add_argument("--precision", choices=["auto", "bfloat16", "float32"], default="auto",
                     help="auto: bfloat16 where the CPU/GPU has it natively, else float32")
    seg.add_argument("--intensity", choices=["auto", "fixed", "percentile"], default="auto",
                     help="intensity mapping to the training range (default auto: fixed for 8-bit "
                          "input, percentile otherwise)")
    seg.add_argument("--spacing", type=float, nargs="+", metavar="NM",
                     help="voxel size in nm, overriding the file's")
    seg.add_argument("--no-resample", dest="resample", action="store_false",
                     help="run the network on the input's own grid even where its pixel size differs from "
                          "the model's by more than 3 %% (by default such input is resampled to the model's "
                          "pixel size and the probabilities back)")
    seg.add_argument("--slab", type=int, default=4, metavar="SLICES", help="slices per step (default 4)")
    seg.add_argument("--sw-batch-size", type=int, default=1,
                     help="windows (whole slices with --window 0) per network call (default 1)")
    seg.add_argument("--device", help="cpu or cuda (default: cuda if available; under torchrun each "
                                      "process takes its own GPU)")
    seg.set_defaults(func=segment_command)

    rec = commands.add_parser(
        "reconstruct", help="reconstruct a single-axis tilt series (SIRT or MLEM)",
        description="Reconstruct an aligned single-axis tilt series: a DM3/DM4/EMD file (angles "
                    "and pixel size from the file) or a (n_angles, y, x) stack any reader takes, with "
                    "--angles. Intensities must grow with projected mass (HAADF-STEM); invert a bright-field "
                    "series first. Writes a (z, y, x) NIfTI volume, z along the beam at 0 degrees, in nm.")
    rec.add_argument("tilt_series", type=Path, help="tilt series file")
    rec.add_argument("output", type=Path, help="output .nii or .nii.gz")
    rec.add_argument("--angles", type=Path, help="text file, one tilt angle in degrees per line (.tlt/.rawtlt)")
    rec.add_argument("--method", choices=["sirt", "mlem"], default="sirt",
                     help="SIRT (default; unconstrained) or MLEM (non-negative, as the paper's data)")
    rec.add_argument("--iterations", type=int, default=50, help="iterations (default 50)")
    rec.add_argument("--thickness", type=int, metavar="VOXELS", help="extent along the beam (default: the width)")
    rec.add_argument("--tilt-axis", choices=["auto", "y", "x"], default="auto",
                     help="direction of the tilt axis in the projections: y (vertical), x (horizontal), or "
                          "auto (default): the one about which the projections rotate, from how the centroid "
                          "of each projection line moves over the tilts (an error when it cannot tell)")
    rec.add_argument("--spacing", type=float, metavar="NM", help="pixel size in nm, overriding the file's")
    rec.set_defaults(func=reconstruct_command)

    sim = commands.add_parser(
        "simulate", help="simulate HAADF-STEM tomograms of alumina/Pt with exact 3D labels",
        description="Draw a thick, textured gamma-alumina grain with ledges, pores and Pt particles under a "
                    "thin contamination coat (and sometimes a carbon strand), take a HAADF tilt series (-68 to +68 degrees in 2 degree "
                    "steps, Z-contrast, resolution blur, misalignment, background and detector noise) and "
                    "reconstruct it (parameters: catseg3d.simulation.settings). Writes OUT_DIR/volume_NNN/ with "
                    "reconstruction.nii.gz, labels.nii.gz, tilt_series.mrc + .rawtlt and truth.json. "
                    "Volume i of a seed is always the same; finished volumes are kept on a rerun.")
    sim.add_argument("out_dir", type=Path, help="output folder")
    sim.add_argument("--n", type=int, default=1, help="number of volumes (default 1)")
    sim.add_argument("--shape", type=int, nargs=3, default=[128, 128, 128], metavar=("Z", "Y", "X"),
                     help="voxels; z is the beam at 0 degrees, y the tilt axis (default 128 128 128)")
    sim.add_argument("--seed", type=int, default=0, help="series seed (default 0)")
    sim.add_argument("--first", type=int, default=0, help="number of the first volume (default 0)")
    sim.add_argument("--spacing", type=float, default=0.12, metavar="NM", help="voxel size in nm (default 0.12)")
    sim.add_argument("--dose", type=float, default=2000.0,
                     help="expected counts in the brightest pixel at 0 degrees (default 2000)")
    sim.add_argument("--noise-free", action="store_true", help="no Poisson noise")
    sim.add_argument("--method", choices=["sirt", "mlem"], default="mlem", help="reconstruction (default mlem)")
    sim.add_argument("--iterations", type=int, default=30, help="reconstruction iterations (default 30)")
    sim.add_argument("--specimen", type=json_object, default={}, metavar="JSON",
                     help="the specimen's distributions to change, as a JSON object of SpecimenParameters fields, "
                          "e.g. '{\"coat_thickness_nm\": [0, 0]}' for no contamination coat (default: none changed)")
    sim.add_argument("--imaging", type=json_object, default={}, metavar="JSON",
                     help="the microscope's settings to change, as a JSON object of ImagingParameters fields, "
                          "e.g. '{\"z_exponent\": 1.3}' (default: none changed)")
    sim.set_defaults(func=simulate_command)

    tune = commands.add_parser(
        "finetune", help="fine-tune a model on your labelled slices (255: unlabelled)",
        description="Train a bundle's network further on your images and labels, through the bundle's "
                    "finetune.yaml workflow, and write a bundle that catseg3d segment --model takes. Labels "
                    "have the images' shape and pixel size: class indices, and 255 where a pixel is not "
                    "labelled (whole slices of a volume in any plane, or boxes and strokes within slices).")
    tune.add_argument("--images", type=Path, nargs="+", required=True, help="images or volumes (any format convert reads)")
    tune.add_argument("--labels", type=Path, nargs="+", required=True, help="one label file per image")
    tune.add_argument("--out", type=Path, required=True, help="the fine-tuned bundle to write (a new folder)")
    tune.add_argument("--model", help="parent bundle (default: the shipped model); none: from scratch")
    tune.add_argument("--minutes", type=float, default=10.0, help="minutes of compute to train (default 10)")
    tune.add_argument("--spacing", type=float, metavar="NM", help="pixel size in nm for files that record none")
    tune.add_argument("--classes", nargs="+", metavar="NAME",
                      help="class names in label order (default: the parent's); another count replaces the output layer")
    tune.add_argument("--intensity", choices=["auto", "fixed", "percentile"], default="auto",
                      help="intensity mapping, as for segment (default auto)")
    tune.add_argument("--resume", action="store_true", help="continue an interrupted fine-tuning of --out")
    tune.add_argument("--seed", type=int, default=0, help="seed of the held-out pixels and of training (default 0)")
    tune.set_defaults(func=finetune_command)

    slices = commands.add_parser(
        "label-slices", help="write labels to correct: a few slices of segment's labels, 255 elsewhere",
        description="Keep the given slices of a label volume (e.g. segment's output) and mark every other "
                    "voxel 255 (unlabelled). Correct those slices in ITK-SNAP, napari or Fiji, then give the "
                    "file to catseg3d finetune.")
    slices.add_argument("labels", type=Path, help="label volume (any format convert reads)")
    slices.add_argument("output", type=Path, help="output .nii or .nii.gz (uint8)")
    slices.add_argument("--z", type=int, nargs="+", metavar="N", help="xy slices to keep")
    slices.add_argument("--y", type=int, nargs="+", metavar="N", help="xz slices to keep")
    slices.add_argument("--x", type=int, nargs="+", metavar="N", help="yz slices to keep")
    slices.add_argument("--spacing", type=float, metavar="NM", help="voxel size in nm if the file records none")
    slices.set_defaults(func=label_slices_command)

    pack = commands.add_parser(
        "pack", help="check a bundle and pack it into one .zip for MONAI's download command",
        description="Check the metadata against the bundle's schema and every model file against the "
                    "metadata, then write configs, docs, LICENSE and models (no checkpoints) into a .zip "
                    "whose one folder is the bundle's name. Install it elsewhere with "
                    "python -m monai.bundle download --name NAME --url file:///path/NAME.zip --bundle_dir DIR.")
    pack.add_argument("bundle", type=Path, help="bundle folder (e.g. bundle)")
    pack.add_argument("output", type=Path, help="output .zip")
    pack.set_defaults(func=pack_command)
    return parser


def _interrupt(signum, frame) -> None:
    """SIGTERM (kill, timeout, a batch scheduler) ends the command as Ctrl-C does: the work's
    cleanup runs (no partial output, no part files left)."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from catseg3d.io.errors import InputError

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        args.func(args)
    except (InputError, OSError) as error:  # bad input, or a file system that refuses (full, read-only)
        print(f"catseg3d: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"catseg3d: {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
