"""Pt particles as connected components: size, position and attachment to the support, in nm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from catseg3d.quantify.morphology import boundary, bounding_box, connected_components


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

    @staticmethod
    def columns(ndim: int) -> list[str]:
        """The keys of :meth:`row` for particles of a ``ndim``-D map, in order (CSV header)."""
        flat = [field.name for field in fields(Particle) if field.name != "centroid_nm"]
        return flat + [f"centroid_{axis}_nm" for axis in "zyx"[-ndim:]]

    def row(self) -> dict[str, object]:
        """A flat dictionary for CSV output (centroid split per axis), keyed as :meth:`columns`."""
        row = asdict(self)
        centroid = row.pop("centroid_nm")
        axes = "zyx"[-len(centroid):]
        row.update({f"centroid_{axis}_nm": value for axis, value in zip(axes, centroid)})
        return row


def equivalent_diameter(size: np.ndarray, ndim: int) -> np.ndarray:
    """Diameter of the sphere (3D) or circle (2D) with the given volume or area."""
    size = np.asarray(size, dtype=np.float64)
    return (6 * size / np.pi) ** (1 / 3) if ndim == 3 else np.sqrt(4 * size / np.pi)


DISTANCE_CROP_NM = 2.0  # distances up to this are found in a box around each particle
GROWTH = (1, 2, 4)  # then in boxes grown by twice and four times as much


class _SupportTree:
    """KD-tree of the support's boundary voxels over the whole volume, built on first use (for the
    particles whose nearest support voxel lies beyond ``4 * DISTANCE_CROP_NM``)."""

    def __init__(self, labels: np.ndarray, support_class: int, spacing: np.ndarray) -> None:
        self.labels, self.support_class, self.spacing = labels, support_class, spacing
        self.tree: cKDTree | None = None
        self.built = False

    def distance(self, points_nm: np.ndarray) -> float:
        """Smallest distance in nm from ``points_nm`` ``(N, ndim)`` to a support voxel centre; NaN
        when the volume has no support."""
        if not self.built:
            support = self.labels == self.support_class
            box = bounding_box(support)
            if box is not None:
                start = np.array([s.start for s in box])
                # outside the bounding box is not support: its faces are boundary (border 0)
                self.tree = cKDTree((np.argwhere(boundary(support[box], 0)) + start) * self.spacing)
            self.built = True
        return float("nan") if self.tree is None else float(self.tree.query(points_nm)[0].min())


def measure_particles(labels: np.ndarray, spacing: Sequence[float], particle_class: int = 2,
                      support_class: int = 1, min_voxels: int = 1) -> list[Particle]:
    """Connected components of ``particle_class`` (26-connected in 3D, 8-connected in 2D).

    The components are labelled in the bounding box of the particle class. Attachment and distance
    are measured between the boundary voxels of the particle and of the support (the voxels with a
    face neighbour of another class: the nearest support voxel, and the nearest 26-neighbour, is
    always one of them) in a box around the particle grown by :data:`DISTANCE_CROP_NM` (at least
    one voxel) per axis, which holds every support voxel that close; a particle with no support
    that close is measured in boxes grown by :data:`GROWTH` times as much, then against a KD-tree
    of the support's boundary voxels over the whole volume. All give the exact distance.

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
    mask = labels == particle_class
    box = bounding_box(mask)
    if box is None:
        return []
    components, _ = connected_components(mask[box])
    del mask
    offset = np.array([s.start for s in box])
    margin = np.maximum(np.ceil(DISTANCE_CROP_NM / spacing).astype(int), 1)
    reach = float((margin * spacing).min())  # every support voxel this close lies in the box
    far = _SupportTree(labels, support_class, spacing)
    particles = []
    for index, window in enumerate(ndimage.find_objects(components), start=1):
        part = components[window] == index
        voxels = int(np.count_nonzero(part))
        if voxels < min_voxels:
            continue
        start = offset + [s.start for s in window]
        centroid = (np.argwhere(part).mean(axis=0) + start) * spacing
        edge = np.argwhere(boundary(part, 0)) + start  # voxel indices in the whole volume
        attached, distance = False, float("inf")
        for growth in GROWTH[:1] if far.built else GROWTH:
            low = np.maximum(start - growth * margin, 0)
            high = np.minimum(start + part.shape + growth * margin, labels.shape)
            near = labels[tuple(slice(a, b) for a, b in zip(low, high))] == support_class
            if near.any():
                support = np.argwhere(boundary(near, 1)) + low
                if growth == 1:
                    attached = bool(cKDTree(support).query(edge, p=np.inf)[0].min() <= 1)
                distance = float(cKDTree(support * spacing).query(edge * spacing)[0].min())
            if distance <= growth * reach:
                break
        else:
            distance = far.distance(edge * spacing)
        size = voxels * float(np.prod(spacing))
        particles.append(Particle(index, voxels, size, float(equivalent_diameter(size, labels.ndim)),
                                  tuple(float(c) for c in centroid), attached, distance))
    return particles
