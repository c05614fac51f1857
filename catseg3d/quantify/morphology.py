"""Binary morphology for tomogram-sized masks: bounding boxes, connected components, hole filling,
distance maps and closing by a ball in nm.

Components, hole filling and distance maps run in SimpleITK (multithreaded; float32 distances
where scipy holds float64 distances and int32 feature indices): on masks of the size of a
702 x 1024 x 512 tomogram, hole filling is 7x, connected components 3x and the distance map 4x
faster than scipy.ndimage's on a 2-core machine, with the same results (the tests compare them).
Masks are numpy ``(z, y, x)`` (or ``(y, x)``) boolean arrays, spacing in nm per array axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

# a lattice offset belongs to the ball of radius r when its length is at most r (1 + 5e-6): offsets
# exactly at r (e.g. 25 voxels of 0.12 nm for 3 nm) stay in despite float32 rounding
BALL_TOLERANCE = 1e-5  # on the squared radius
CHUNK = 1 << 24  # voxels per bincount step (bounded int64 temporaries)


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """The smallest box holding every True voxel, as one slice per axis; None for an empty mask."""
    box = []
    for axis in range(mask.ndim):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if present.size == 0:
            return None
        box.append(slice(int(present[0]), int(present[-1]) + 1))
    return tuple(box)


def _image(mask: np.ndarray, spacing: Sequence[float] | None = None) -> sitk.Image:
    """A uint8 SimpleITK image of a boolean mask (ITK's spacing is in (x, y, z) order)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(mask).view(np.uint8))
    if spacing is not None:
        image.SetSpacing([float(s) for s in reversed(spacing)])
    return image


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Fully connected components (26-connected in 3D, 8-connected in 2D) of a boolean mask.

    Returns:
        ``(components, count)``: an array of the mask's shape holding 0 outside the mask and the
        component ids 1..count, numbered in the raster order of their first voxel (as
        ``scipy.ndimage.label`` numbers them), in the smallest unsigned type that holds ``count``.
    """
    if not mask.any():
        return np.zeros(mask.shape, np.uint8), 0
    components = sitk.ConnectedComponentImageFilter()
    components.FullyConnectedOn()
    image = components.Execute(_image(mask))
    count = int(components.GetObjectCount())
    for dtype, pixel in ((np.uint8, sitk.sitkUInt8), (np.uint16, sitk.sitkUInt16)):
        if count <= np.iinfo(dtype).max:
            image = sitk.Cast(image, pixel)
            break
    return sitk.GetArrayFromImage(image), count


def component_sizes(components: np.ndarray, count: int) -> np.ndarray:
    """Voxels per component: ``(count,)`` int64 for ids 1..count (in steps of :data:`CHUNK` voxels)."""
    flat = components.reshape(-1)
    sizes = np.zeros(count + 1, np.int64)
    for start in range(0, flat.size, CHUNK):
        sizes += np.bincount(flat[start:start + CHUNK], minlength=count + 1)
    return sizes[1:]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with its holes filled: background not 26-connected (8 in 2D) to the array border.

    Equals ``scipy.ndimage.binary_fill_holes(mask, structure=np.ones((3,) * mask.ndim))``.
    """
    if mask.size == 0:
        return mask.astype(bool)
    filled = sitk.BinaryFillhole(_image(mask), fullyConnected=True, foregroundValue=1)
    return sitk.GetArrayViewFromImage(filled).astype(bool)


def _farther_than(image: sitk.Image, limit: float) -> sitk.Image:
    """uint8 image: 1 where the squared distance in nm^2 to the nearest foreground voxel centre of
    ``image`` exceeds ``limit`` (ITK's Maurer map, float32; it measures to the foreground's boundary
    voxels, and the nearest foreground voxel of a background voxel is always one of them, so it
    equals ``scipy.ndimage.distance_transform_edt(~mask, sampling=spacing) ** 2`` to float32 rounding)."""
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=True, useImageSpacing=True,
                                            backgroundValue=0)
    return distance > float(limit)


def ball_margin(spacing: Sequence[float], radius_nm: float) -> tuple[int, ...]:
    """Voxels per axis that a ball of ``radius_nm`` reaches, plus one."""
    return tuple(math.ceil(radius_nm / s) + 1 for s in spacing)


def closing(mask: np.ndarray, spacing: Sequence[float], radius_nm: float) -> np.ndarray:
    """Morphological closing of a 3D mask by a ball of ``radius_nm`` in nm (an ellipsoid of voxels
    under anisotropic spacing), the volume taken as surrounded by background.

    The ball is the set of lattice offsets of length at most ``radius_nm`` (see
    :data:`BALL_TOLERANCE`). The voxels farther than the radius from the mask are those outside
    its dilation; the closing (the erosion of the dilation) is the set of voxels farther than the
    radius from all of those. Both are thresholded distance maps on the mask's bounding box grown
    by :func:`ball_margin`, which gives the exact closing (it never leaves the bounding box).

    Args:
        mask: ``(z, y, x)`` boolean.
        spacing: nm per axis.
        radius_nm: ball radius, positive.

    Returns:
        Boolean, the mask's shape.
    """
    box = bounding_box(mask)
    closed = np.zeros(mask.shape, bool)
    if box is None:
        return closed
    margin = ball_margin(spacing, radius_nm)
    limit = radius_nm ** 2 * (1 + BALL_TOLERANCE)
    outside = _farther_than(_image(np.pad(mask[box], [(m, m) for m in margin]), spacing), limit)
    eroded = _farther_than(outside, limit)
    del outside
    closed[box] = sitk.GetArrayViewFromImage(eroded)[tuple(slice(m, -m) for m in margin)]
    return closed


def boundary(mask: np.ndarray, border_value: int) -> np.ndarray:
    """Mask voxels with a face neighbour (6 in 3D, 4 in 2D) outside the mask; ``border_value``
    1 takes the outside of the array as mask, 0 as background."""
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, cross, border_value=border_value)
