"""Pt particles as connected components: size, position and attachment to the support, in nm."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Particle:
    """One connected particle.

    Attributes:
        label: component id (1..n) in the labelled particle map.
        voxels: number of voxels (pixels in 2D).
        size: volume in nm^3 (area in nm^2 in 2D).
        diameter_nm: equivalent-sphere (equivalent-circle in 2D) diameter.
        centroid_nm: centre of mass in nm, numpy axis order ``(z, y, x)`` / ``(y, x)``.
        attached: touches the support within one voxel (face, edge or corner neighbour).
        distance_nm: smallest centre-to-centre distance from a particle voxel to a support voxel
            (one voxel spacing for a particle lying on the support); NaN without support.
    """

    label: int
    voxels: int
    size: float
    diameter_nm: float
    centroid_nm: tuple[float, ...]
    attached: bool
    distance_nm: float

    def row(self) -> dict[str, object]:
        """A flat dictionary for CSV output (centroid split per axis)."""
        row = asdict(self)
        centroid = row.pop("centroid_nm")
        axes = "zyx"[-len(centroid):]
        row.update({f"centroid_{axis}_nm": value for axis, value in zip(axes, centroid)})
        return row


def equivalent_diameter(size: np.ndarray, ndim: int) -> np.ndarray:
    """Diameter of the sphere (3D) or circle (2D) with the given volume or area."""
    size = np.asarray(size, dtype=np.float64)
    return (6 * size / np.pi) ** (1 / 3) if ndim == 3 else np.sqrt(4 * size / np.pi)


def measure_particles(labels: np.ndarray, spacing: Sequence[float], particle_class: int = 2,
                      support_class: int = 1, min_voxels: int = 1) -> list[Particle]:
    """Connected components of ``particle_class`` (26-connected in 3D, 8-connected in 2D).

    Args:
        labels: class indices ``(z, y, x)`` or ``(y, x)``.
        spacing: nm per array axis.
        particle_class: the class of the particles (Pt: 2).
        support_class: the class they sit on (alumina: 1).
        min_voxels: components smaller than this are left out (noise filter).

    Returns:
        The particles of at least ``min_voxels`` voxels, by component id.

    Raises:
        ValueError: ``spacing`` does not fit ``labels``.
    """
    labels = np.asarray(labels)
    spacing = np.asarray(spacing, dtype=np.float64)
    if spacing.shape != (labels.ndim,):
        raise ValueError(f"spacing {spacing.tolist()} does not fit a {labels.ndim}D label map")
    particles = labels == particle_class
    components, count = ndimage.label(particles, structure=np.ones((3,) * labels.ndim, dtype=bool))
    if count == 0:
        return []
    ids = np.arange(1, count + 1)
    voxels = np.bincount(components.ravel(), minlength=count + 1)[1:]
    support = labels == support_class
    touching = ndimage.binary_dilation(support, structure=np.ones((3,) * labels.ndim, dtype=bool))
    attached = np.bincount(components[touching & particles], minlength=count + 1)[1:] > 0
    if support.any():
        distance = ndimage.distance_transform_edt(~support, sampling=spacing)
        nearest = ndimage.minimum(distance, components, ids)
    else:
        nearest = np.full(count, np.nan)
    centroids = np.asarray(ndimage.center_of_mass(particles, components, ids)).reshape(count, -1) * spacing
    size = voxels * float(np.prod(spacing))
    diameters = equivalent_diameter(size, labels.ndim)
    return [Particle(int(i), int(v), float(s), float(d), tuple(float(c) for c in centroid), bool(a), float(n))
            for i, v, s, d, centroid, a, n in zip(ids, voxels, size, diameters, centroids, attached, nearest)
            if v >= min_voxels]
