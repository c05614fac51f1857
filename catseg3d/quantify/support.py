"""The support (gamma-alumina): volume, external and pore surface areas, enclosed and open pores, in nm.

Surface areas come from scikit-image's marching cubes on the mask smoothed with a Gaussian of
sigma :data:`SIGMA` (0.55 voxel): meshing the raw binary mask overestimates a sphere's area by about
8 % (staircase), the smoothed mask by 0-3 % for radii of 4 to 40 voxels; it finds 93-95 % of the
exact area of the simulator's faceted, terraced plates at 0.24 nm and 97-99 % at 0.12 nm, where a
one-voxel Gaussian rounds off their ledges and edges (87-89 % and 92-93 %). Every mask voxel is
kept at least just above the iso-level, so objects of one or two voxels and one-voxel walls keep a
(small) surface instead of vanishing. The volume is padded by repeating its border and the mesh
is clipped to the field of view, so that where an object is cut by the edge of the field of view
no surface is counted. The area is computed on the mask's bounding box in slabs of :data:`SLAB`
planes (each smoothed with the planes the Gaussian reaches), which gives the same triangles as
meshing the whole field of view at once in a fraction of the time and memory.

Pores are background voxels: *enclosed* pores are not 26-connected to the outside of the field of
view through background (3D hole filling of the support); *open* pores are the background inside
the support's envelope that is not enclosed, the envelope being the support closed by a ball of
radius ``open_pore_radius_nm`` (see :func:`catseg3d.quantify.morphology.closing`), holes filled:
cavities, channels and pore mouths open to the outside narrower than about twice the radius.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage import measure

from catseg3d.quantify.morphology import (
    bounding_box,
    closing,
    component_sizes,
    connected_components,
    fill_holes,
)
from catseg3d.quantify.particles import equivalent_diameter

GAMMA_ALUMINA_DENSITY_G_CM3 = 3.65  # for the specific surface area in m^2/g
OPEN_PORE_RADIUS_NM = 3.0  # the paper's pores are 2-6 nm across


LEVEL = 0.5
# Gaussian sigma in voxels; area / exact area at 0.55 (at 1.0): simulated terraced plates 0.93-0.95 (0.87-0.89)
# at 0.24 nm and 0.97-0.99 (0.92-0.93) at 0.12 nm; spheres of radius 4-40 voxels 1.00-1.03 (0.89-1.00)
SIGMA = 0.55
REACH = int(4 * SIGMA + 0.5)  # voxels the Gaussian reaches (scipy's default truncate=4): 2
SLAB = 64  # marching-cubes planes per step of surface_area


def smooth(mask: np.ndarray) -> np.ndarray:
    """A boolean array as float32, Gaussian-smoothed (sigma :data:`SIGMA` voxels, :data:`REACH` voxels
    wide, reflected at its border), with every True voxel kept just above :data:`LEVEL` so that no
    object vanishes."""
    smoothed = mask.astype(np.float32)
    # in place: scipy filters line by line
    ndimage.gaussian_filter(smoothed, sigma=SIGMA, radius=REACH, output=smoothed)
    return np.maximum(smoothed, np.float32(LEVEL + 0.01), out=smoothed, where=mask)


def smoothed_mask(mask: np.ndarray, pad_mode: str) -> np.ndarray:
    """:func:`smooth` of the mask padded by 2 voxels (``pad_mode``: numpy's ``"edge"`` or ``"constant"``)."""
    return smooth(np.pad(mask, 2, mode=pad_mode))


def surface_area(mask: np.ndarray, spacing: Sequence[float], start: Sequence[int] = (0, 0, 0),
                 field_of_view: Sequence[int] | None = None) -> float:
    """Area in nm^2 of the boundary of a 3D binary mask inside the field of view (0 if there is none).

    Args:
        mask: ``(z, y, x)`` boolean: the field of view, or a box of it whose first voxel is voxel
            ``start`` of a field of view of shape ``field_of_view``, with no mask voxel outside the box.
        spacing: nm per axis.
        start: see ``mask``.
        field_of_view: see ``mask``; default the mask's shape.

    Returns:
        The area that meshing the smoothed, border-padded mask of the whole field of view gives.
    """
    return surface_areas(mask, spacing, start, field_of_view)[0]


def surface_areas(mask: np.ndarray, spacing: Sequence[float], start: Sequence[int] = (0, 0, 0),
                  field_of_view: Sequence[int] | None = None, near: np.ndarray | None = None) -> tuple[float, float]:
    """:func:`surface_area`, and the part of it next to the voxels of ``near``.

    Args:
        mask, spacing, start, field_of_view: as for :func:`surface_area`.
        near: boolean, the mask's shape (its voxels outside the mask's bounding box do not count).

    Returns:
        ``(area, near_area)`` in nm^2: ``near_area`` sums the triangles whose marching cube has a
        corner in ``near`` (0 without ``near``).
    """
    spacing = np.asarray(spacing, dtype=np.float64)
    box = bounding_box(mask)
    if box is None:
        return 0.0, 0.0
    fov = np.asarray(mask.shape if field_of_view is None else field_of_view)
    first = np.asarray(start) + [s.start for s in box]
    last = first + [s.stop - s.start for s in box]
    # what the whole field of view padded by 2 border voxels and smoothed would hold around the box:
    # the border repeated where the box meets the field of view's edge, zeros as far as the
    # Gaussian reaches where it does not
    at_edge = [(a == 0, b == n) for a, b, n in zip(first, last, fov)]

    def pad(array: np.ndarray) -> np.ndarray:
        array = np.pad(array[box], [(2 * lo, 2 * hi) for lo, hi in at_edge], mode="edge")
        return np.pad(array, [((2 + REACH) * (not lo), (2 + REACH) * (not hi)) for lo, hi in at_edge])

    padded = pad(mask)
    padded_near = None if near is None else pad(near)
    origin = np.array([2 if lo else 2 + REACH for lo, _ in at_edge]) - first  # of the field of view
    # faces lie half a voxel outside the outermost voxel centres of the field of view
    low, high = (origin - 0.5) * spacing, (origin + fov - 0.5) * spacing
    area = near_area = 0.0
    for top in range(0, padded.shape[0] - 1, SLAB):
        bottom = min(top + SLAB, padded.shape[0] - 1)  # planes top..bottom: the cubes top..bottom-1
        above, below = max(top - REACH, 0), min(bottom + 1 + REACH, padded.shape[0])
        block = padded[above:below]
        if not block.any() or block.all():
            continue
        values = smooth(block)[top - above:bottom + 1 - above]
        if values.min() >= LEVEL or values.max() <= LEVEL:
            continue
        vertices, faces, _, _ = measure.marching_cubes(values, level=LEVEL, spacing=tuple(spacing))
        corners = vertices[faces]  # (F, 3 vertices, 3 axes), nm from plane ``top``
        areas = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
        centroids = corners.mean(axis=1)
        del corners
        inside = np.all((centroids + [top * spacing[0], 0, 0] >= low)
                        & (centroids + [top * spacing[0], 0, 0] <= high), axis=1)
        area += float(areas[inside].sum())
        if padded_near is not None:
            touching = padded_near[top:bottom + 1]
            if touching.any():
                cube = np.minimum((centroids / spacing).astype(np.intp), np.array(values.shape) - 2)
                hit = np.zeros(len(cube), bool)
                for corner in np.ndindex(2, 2, 2):
                    hit |= touching[tuple((cube + corner).T)]
                near_area += float(areas[inside & hit].sum())
    return area, near_area


def open_pore_definition(radius_nm: float) -> str:
    """The sentence that stats.json and report.md give for the open pores."""
    if radius_nm <= 0:
        return "not measured (open-pore radius 0)"
    return (f"background inside the envelope of the alumina and not in an enclosed pore; envelope: the "
            f"alumina closed by a ball of radius {radius_nm:g} nm (dilation then erosion, the volume "
            "surrounded by background), holes filled (26-connected)")


def measure_support(labels: np.ndarray, spacing: Sequence[float], support_class: int = 1,
                    background_class: int = 0,
                    open_pore_radius_nm: float = OPEN_PORE_RADIUS_NM) -> dict[str, float | int | str | list[float] | None]:
    """Volume and areas of the support, its enclosed pores and its open pores, from a 3D label volume.

    Everything is computed on the support's bounding box (hole filling and closing are exact there).

    Args:
        labels: class indices ``(z, y, x)``.
        spacing: nm per axis.
        support_class: alumina (1).
        background_class: background and pores (0).
        open_pore_radius_nm: radius of the ball closing the support into its envelope (module
            docstring); 0 measures no open pores (their entries are None).

    Returns:
        ``support_volume_nm3``; ``external_surface_nm2`` (enclosed pores filled, open pores not);
        ``pore_volume_nm3``, ``pore_volume_fraction`` (of the filled support), ``pore_surface_nm2``,
        ``pore_count``, ``pore_diameters_nm`` (equivalent spheres, 26-connected enclosed pores);
        ``specific_surface_nm_1`` (external area / support volume) and ``specific_surface_m2_g`` at
        the density of gamma-alumina; ``open_pore_radius_nm``, ``open_pore_definition``,
        ``envelope_volume_nm3``, ``open_pore_volume_nm3``, ``open_pore_volume_fraction`` (of the
        envelope), ``open_pore_count``, ``open_pore_diameters_nm`` (26-connected open pores) and
        ``open_pore_wall_nm2``: the part of the external surface whose marching cubes touch an
        open-pore voxel.

    Raises:
        ValueError: a label map that is not 3D, spacing that does not fit, or a negative radius.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3 or len(spacing) != 3:
        raise ValueError(f"support measurements need a 3D label volume and 3 spacings, got {labels.shape}, {spacing}")
    if not open_pore_radius_nm >= 0:
        raise ValueError(f"the open-pore radius must be 0 (off) or positive, got {open_pore_radius_nm}")
    spacing = tuple(float(s) for s in spacing)
    voxel = float(np.prod(spacing))
    box = bounding_box(labels == support_class) or (slice(0, 0),) * 3
    crop = labels[box]
    start = [s.start for s in box]
    support = crop == support_class
    filled = fill_holes(support)
    background = crop == background_class
    pores = filled & background
    pore_voxels = component_sizes(*connected_components(pores))
    open_pores, envelope_voxels = None, 0
    if open_pore_radius_nm > 0:
        envelope = fill_holes(closing(support, spacing, open_pore_radius_nm))
        envelope_voxels = np.count_nonzero(envelope)
        open_pores = envelope & ~filled & background
        del envelope
    del background
    support_volume = float(np.count_nonzero(support)) * voxel
    filled_voxels = np.count_nonzero(filled)
    external, wall = surface_areas(filled, spacing, start, labels.shape, near=open_pores)
    specific = external / support_volume if support_volume else float("nan")
    stats: dict[str, float | int | str | list[float] | None] = {
        "support_volume_nm3": support_volume,
        "external_surface_nm2": external,
        "pore_volume_nm3": float(pore_voxels.sum()) * voxel,
        "pore_volume_fraction": float(pore_voxels.sum() / filled_voxels) if filled_voxels else float("nan"),
        "pore_surface_nm2": surface_area(pores, spacing, start, labels.shape),
        "pore_count": len(pore_voxels),
        "pore_diameters_nm": equivalent_diameter(pore_voxels * voxel, 3).tolist(),
        "specific_surface_nm_1": specific,
        # nm^2/nm^3 = 1e9 m^2/m^3; divided by the density in g/m^3 (g/cm^3 x 1e6)
        "specific_surface_m2_g": specific * 1e9 / (GAMMA_ALUMINA_DENSITY_G_CM3 * 1e6),
        "open_pore_radius_nm": float(open_pore_radius_nm),
        "open_pore_definition": open_pore_definition(open_pore_radius_nm),
    }
    keys = ("envelope_volume_nm3", "open_pore_volume_nm3", "open_pore_volume_fraction", "open_pore_count",
            "open_pore_diameters_nm", "open_pore_wall_nm2")
    if open_pores is None:
        return stats | dict.fromkeys(keys)
    open_voxels = component_sizes(*connected_components(open_pores))
    return stats | dict(zip(keys, (
        float(envelope_voxels) * voxel, float(open_voxels.sum()) * voxel,
        float(open_voxels.sum() / envelope_voxels) if envelope_voxels else float("nan"), len(open_voxels),
        equivalent_diameter(open_voxels * voxel, 3).tolist(), wall)))
