"""Quantify a label map and write stats.json, particles.csv and report.md (atomically)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from catseg3d.io.atomic import write_text
from catseg3d.io.jsonfile import write_json
from catseg3d.io.volume import Volume
from catseg3d.quantify.figures import plot_diameters, plot_orthoslices
from catseg3d.quantify.meshes import class_mesh, write_mesh
from catseg3d.quantify.particles import Particle, measure_particles
from catseg3d.quantify.support import measure_support


def quantify_labels(labels: Volume, min_voxels: int = 1) -> tuple[dict, list[Particle]]:
    """Statistics of a label map (0 background/pores, 1 alumina, 2 Pt) in nm.

    Returns:
        ``(stats, particles)``: ``stats`` holds the shape, spacing, class volume fractions, the Pt
        summary (count, attached fraction, diameters) and, for 3D maps, the support measurements
        of :func:`catseg3d.quantify.measure_support`.
    """
    array = labels.array
    particles = measure_particles(array, labels.spacing, min_voxels=min_voxels)
    diameters = np.array([p.diameter_nm for p in particles])
    counts = np.bincount(array.ravel().astype(np.int64), minlength=3)[:3]
    stats: dict = {
        "shape": list(array.shape),
        "spacing_nm": list(labels.spacing),
        "volume_fractions": dict(zip(("background", "alumina", "pt"), (counts / counts.sum()).tolist())),
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
        stats["alumina"] = measure_support(array, labels.spacing)
    return stats, particles


def particles_csv(particles: list[Particle]) -> str:
    rows = [p.row() for p in particles]
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
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
                  f"- external surface (pores filled): {a['external_surface_nm2']:.1f} nm^2; specific surface "
                  f"{a['specific_surface_nm_1']:.4f} nm^-1 = {a['specific_surface_m2_g']:.1f} m^2/g at 3.65 g/cm^3",
                  f"- enclosed pores: {a['pore_count']}, volume {a['pore_volume_nm3']:.1f} nm^3, "
                  f"fraction {a['pore_volume_fraction']:.4f} of the filled particle, surface {a['pore_surface_nm2']:.1f} nm^2"]
    return "\n".join(lines) + "\n"


def write_quantification(labels: Volume, out_dir: str | os.PathLike, min_voxels: int = 1,
                         mesh_format: str | None = None, image: Volume | None = None) -> dict:
    """Write ``stats.json``, ``particles.csv``, ``report.md`` and figures into ``out_dir``.

    Figures: ``pt_diameters.png`` (when there are particles) and, for 3D maps,
    ``orthoslices.png`` (with ``image`` underneath if given). Returns the stats.

    With ``mesh_format`` (``"ply"``, ``"stl"``, ``"vtk"``, ...) and a 3D map, also ``alumina.FMT``
    and ``pt.FMT``: smoothed surface meshes in nm for ParaView (a class with no voxels gets none).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats, particles = quantify_labels(labels, min_voxels)
    if mesh_format is not None and labels.array.ndim == 3:
        for name, label in (("alumina", 1), ("pt", 2)):
            if (labels.array == label).any():
                write_mesh(*class_mesh(labels.array == label, labels.spacing), out / f"{name}.{mesh_format}")
    write_text(out / "particles.csv", particles_csv(particles))
    text = markdown(stats)
    if particles:
        plot_diameters([p.diameter_nm for p in particles], out / "pt_diameters.png", stats["pt"]["diameter_kind"])
        text += "\n![Pt size distribution](pt_diameters.png)\n"
    if labels.array.ndim == 3:
        plot_orthoslices(labels.array, labels.spacing, out / "orthoslices.png",
                         None if image is None else image.array)
        text += "\n![orthoslices](orthoslices.png)\n"
    write_text(out / "report.md", text)
    write_json(out / "stats.json", stats)
    return stats
