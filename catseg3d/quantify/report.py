"""Quantify a label map and write stats.json, particles.csv and report.md (atomically), optionally
against a reference label map (the ground truth of a prediction)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from catseg3d.io.atomic import write_text
from catseg3d.io.errors import InputError
from catseg3d.io.genc2022 import CLASS_NAMES
from catseg3d.io.jsonfile import write_json
from catseg3d.io.volume import Volume
from catseg3d.metrics.consistency import slice_changes
from catseg3d.quantify.figures import plot_diameters, plot_orthoslices, plot_render
from catseg3d.quantify.meshes import class_mesh, write_mesh
from catseg3d.quantify.particles import Particle, measure_particles
from catseg3d.quantify.support import OPEN_PORE_RADIUS_NM, measure_support


def quantify_labels(labels: Volume, min_voxels: int = 1,
                    open_pore_radius_nm: float = OPEN_PORE_RADIUS_NM) -> tuple[dict, list[Particle]]:
    """Statistics of a label map (0 background/pores, 1 alumina, 2 Pt) in nm.

    Args:
        labels: ``(z, y, x)`` or ``(y, x)`` class indices and their spacing in nm.
        min_voxels: smallest Pt particle counted.
        open_pore_radius_nm: radius of the ball that closes the alumina into the envelope whose
            background is open pore (3D maps); 0 measures no open pores.

    Returns:
        ``(stats, particles)``: ``stats`` holds the shape, spacing, class volume fractions (of
        the whole map), the Pt summary (count, attached fraction, diameters) and, for 3D maps, the
        support measurements of :func:`catseg3d.quantify.measure_support`.
    """
    array = labels.array
    particles = measure_particles(array, labels.spacing, min_voxels=min_voxels)
    diameters = np.array([p.diameter_nm for p in particles])
    counts = class_counts(array)
    stats: dict = {
        "shape": list(array.shape),
        "spacing_nm": list(labels.spacing),
        "volume_fractions": dict(zip(CLASS_NAMES, (counts / counts.sum()).tolist(), strict=True)),
        "pt": {
            "min_voxels": min_voxels,
            "count": len(particles),
            "attached_fraction": float(np.mean([p.attached for p in particles])) if particles else None,
            "diameter_nm_mean": float(diameters.mean()) if particles else None,
            "diameter_nm_sd": float(diameters.std(ddof=1)) if len(particles) > 1 else None,
            "diameter_kind": "equivalent sphere" if array.ndim == 3 else "equivalent circle",
        },
    }
    if array.ndim == 3:
        stats["alumina"] = measure_support(array, labels.spacing, open_pore_radius_nm=open_pore_radius_nm)
    if array.ndim == 3 and min(array.shape) > 1:
        changes = slice_changes(array)
        stats["slice_changes"] = {"z": changes.z, "y": changes.y, "x": changes.x, "z_over_yx": changes.stack_ratio("z")}
    return stats, particles


def class_counts(array: np.ndarray, slab: int = 16) -> np.ndarray:
    """Voxels of labels 0, 1 and 2 in an integer label map, counted ``slab`` slices at a time."""
    counts = np.zeros(3, np.int64)
    for start in range(0, array.shape[0], slab):
        counts += np.bincount(array[start:start + slab].ravel(), minlength=3)[:3]
    return counts


# the measures compared with a reference: (section of the stats, entry, name in report.md, format)
COMPARED = (("pt", "count", "Pt count", "{:d}"),
            ("pt", "diameter_nm_mean", "Pt mean diameter (nm)", "{:.3f}"),
            ("pt", "attached_fraction", "Pt attached fraction", "{:.3f}"),
            ("alumina", "support_volume_nm3", "alumina volume (nm^3)", "{:.1f}"),
            ("alumina", "external_surface_nm2", "external surface (nm^2)", "{:.1f}"),
            ("alumina", "pore_volume_fraction", "pore volume fraction", "{:.4f}"),
            ("alumina", "pore_surface_nm2", "pore surface (nm^2)", "{:.1f}"),
            ("slice_changes", "z", "label changes between z neighbours", "{:.4f}"),
            ("slice_changes", "z_over_yx", "z label changes / y, x label changes", "{:.3f}"))


def check_reference(labels: Volume, reference: Volume) -> None:
    """Raise ValueError unless ``reference`` has the shape and spacing of ``labels``."""
    if reference.array.shape != labels.array.shape or not np.allclose(reference.spacing, labels.spacing, rtol=1e-6):
        raise ValueError(f"shape {reference.array.shape} at {list(reference.spacing)} nm differs from the labels' "
                         f"{labels.array.shape} at {list(labels.spacing)} nm")


def difference_percent(value: float | None, reference: float | None) -> float | None:
    """``100 (value - reference) / reference``; None where either is missing or the reference is 0."""
    if value is None or reference is None or reference == 0:
        return None
    return 100 * (value - reference) / reference


def compare(stats: dict, reference: dict) -> dict[str, float | None]:
    """Relative differences in % of the :data:`COMPARED` measures of two :func:`quantify_labels`
    results, keyed ``"section.entry"`` (those of a 2D map: the Pt measures)."""
    return {f"{section}.{key}": difference_percent(stats[section][key], reference[section][key])
            for section, key, _, _ in COMPARED if section in stats}


def cell(value: float | None, form: str) -> str:
    """A table cell: ``value`` formatted with ``form``, or n/a."""
    return "n/a" if value is None else form.format(value)


def particles_csv(particles: list[Particle], ndim: int) -> str:
    """One row per particle of a ``ndim``-D map under a header (the header alone if there are none)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=Particle.columns(ndim), lineterminator="\n")
    writer.writeheader()
    writer.writerows(p.row() for p in particles)
    return buffer.getvalue()


def markdown(stats: dict) -> str:
    pt = stats["pt"]
    unit = "nm^3" if len(stats["shape"]) == 3 else "nm^2"
    lines = [f"# Quantification: {stats['shape']} voxels at {stats['spacing_nm']} nm", "",
             "Volume fractions: " + ", ".join(f"{k} {v:.4f}" for k, v in stats["volume_fractions"].items()), "",
             "## Pt particles", "",
             f"- particles of at least {pt['min_voxels']} voxels (26-connected in 3D): {pt['count']}"]
    if pt["count"]:
        lines += [f"- attached to alumina (within one voxel): {100 * pt['attached_fraction']:.1f} %",
                  f"- {pt['diameter_kind']} diameter: {pt['diameter_nm_mean']:.3f} nm"
                  + (f" ± {pt['diameter_nm_sd']:.3f} nm (SD)" if pt["diameter_nm_sd"] is not None else ""),
                  "- per particle (size in " + unit + ", centroid, distance to alumina): particles.csv"]
    if "alumina" in stats:
        a = stats["alumina"]
        lines += ["", "## Alumina and pores", "",
                  f"- alumina volume: {a['support_volume_nm3']:.1f} nm^3",
                  (f"- external surface (enclosed pores filled): {a['external_surface_nm2']:.1f} nm^2; specific "
                   f"surface {a['specific_surface_nm_1']:.4f} nm^-1 = {a['specific_surface_m2_g']:.1f} m^2/g "
                   "at 3.65 g/cm^3"),
                  (f"- enclosed pores: {a['pore_count']}, volume {a['pore_volume_nm3']:.1f} nm^3, fraction "
                   f"{a['pore_volume_fraction']:.4f} of the filled particle, surface {a['pore_surface_nm2']:.1f} nm^2")]
        if a["open_pore_count"] is None:
            lines += [f"- open pores: {a['open_pore_definition']}"]
        else:
            lines += [(f"- open pores: {a['open_pore_count']}, volume {a['open_pore_volume_nm3']:.1f} nm^3, fraction "
                       f"{a['open_pore_volume_fraction']:.4f} of the envelope ({a['envelope_volume_nm3']:.1f} nm^3), "
                       f"walls {a['open_pore_wall_nm2']:.1f} nm^2 of the external surface"),
                      f"- open-pore definition: {a['open_pore_definition']}"]
    if "slice_changes" in stats:
        c = stats["slice_changes"]
        lines += ["", "## Consistency between slices", "",
                  f"- neighbouring voxels with different labels: along z {c['z']:.4f}, y {c['y']:.4f}, x {c['x']:.4f}",
                  f"- along z over the mean of y and x: {cell(c['z_over_yx'], '{:.3f}')} (labels made slice by slice "
                  "that flicker between slices raise it; compare with the reference, or with about 1 where the "
                  "structure has no preferred direction)"]
    if "reference" in stats:
        lines += ["", "## Against the reference", "",
                  "| measure | this | reference | difference (%) |", "|---|---|---|---|"]
        for section, key, name, form in COMPARED:
            if section in stats:
                this, other = stats[section][key], stats["reference"][section][key]
                difference = stats["reference"]["difference_percent"][f"{section}.{key}"]
                lines.append(f"| {name} | {cell(this, form)} | {cell(other, form)} | {cell(difference, '{:+.2f}')} |")
    return "\n".join(lines) + "\n"


def write_quantification(labels: Volume, out_dir: str | os.PathLike, min_voxels: int = 1,
                         mesh_format: str | None = None, image: Volume | None = None,
                         open_pore_radius_nm: float = OPEN_PORE_RADIUS_NM, reference: Volume | None = None) -> dict:
    """Write ``stats.json``, ``particles.csv``, ``report.md`` and figures into ``out_dir``
    (``min_voxels`` and ``open_pore_radius_nm`` as in :func:`quantify_labels`).

    With a ``reference`` label map of the same shape and spacing (e.g. the ground truth of
    predicted ``labels``), it is quantified too: ``stats["reference"]`` holds its statistics and
    ``difference_percent`` (:func:`compare`), and report.md a table of the :data:`COMPARED` measures.

    Figures: ``pt_diameters.png`` (when there are particles) and, for 3D maps,
    ``orthoslices.png`` (with ``image`` underneath if given) and ``render.png`` (a 3D view,
    :func:`catseg3d.quantify.figures.plot_render`). Returns the stats.

    With ``mesh_format`` (``"ply"``, ``"stl"``, ``"vtk"``, ...) and a 3D map, also ``alumina.FMT``
    and ``pt.FMT``: smoothed surface meshes in nm for ParaView (a class with no voxels gets none).

    The report replaces an earlier one in ``out_dir`` whole (no file of it is left beside the
    new one); it is written into a hidden folder beside ``out_dir`` first, so an interrupted run
    leaves the earlier report as it was.

    Raises:
        ValueError: a reference of another shape or spacing.
        InputError: ``out_dir`` is a file, or a folder holding files other than a report's.
    """
    if reference is not None:
        check_reference(labels, reference)
    out = Path(out_dir)
    check_report_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        stats = _write_report(labels, work, min_voxels, mesh_format, image, open_pore_radius_nm, reference)
        if out.is_dir():
            shutil.rmtree(out)
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return stats


REPORT_FILES = ("stats.json", "particles.csv", "report.md", "pt_diameters.png", "orthoslices.png", "render.png")
MESH_STEMS = ("alumina", "pt")


def check_report_folder(out: Path) -> None:
    """Refuse an output that is a file, or a folder holding anything but a report's files.

    Raises:
        InputError: as above.
    """
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir()
                         if not (p.is_file() and (p.name in REPORT_FILES or p.stem in MESH_STEMS)))
        if foreign:
            raise InputError(out, f"holds files that are not a quantify report ({', '.join(foreign[:3])}); "
                                  "give a new or empty folder")


def _write_report(labels: Volume, out: Path, min_voxels: int, mesh_format: str | None, image: Volume | None,
                  open_pore_radius_nm: float, reference: Volume | None) -> dict:
    """The files of :func:`write_quantification`, into the existing folder ``out``."""
    stats, particles = quantify_labels(labels, min_voxels, open_pore_radius_nm)
    if reference is not None:
        reference_stats, _ = quantify_labels(reference, min_voxels, open_pore_radius_nm)
        stats["reference"] = reference_stats | {"difference_percent": compare(stats, reference_stats)}
    if mesh_format is not None and labels.array.ndim == 3:
        for name, label in (("alumina", 1), ("pt", 2)):
            if (labels.array == label).any():
                write_mesh(*class_mesh(labels.array == label, labels.spacing), out / f"{name}.{mesh_format}")
    write_text(out / "particles.csv", particles_csv(particles, labels.array.ndim))
    text = markdown(stats)
    if particles:
        plot_diameters([p.diameter_nm for p in particles], out / "pt_diameters.png", stats["pt"]["diameter_kind"])
        text += "\n![Pt size distribution](pt_diameters.png)\n"
    if labels.array.ndim == 3:
        plot_orthoslices(labels.array, labels.spacing, out / "orthoslices.png",
                         None if image is None else image.array)
        plot_render(labels.array, labels.spacing, out / "render.png")
        text += "\n![orthoslices](orthoslices.png)\n\n![3D view](render.png)\n"
    write_text(out / "report.md", text)
    write_json(out / "stats.json", stats)
    return stats
