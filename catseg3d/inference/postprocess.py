"""Clean-up of label volumes after inference."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def remove_small_components(labels: np.ndarray, min_size: int, background: int = 0) -> int:
    """Give every small component the label most common around it (in place).

    A component is a set of voxels of one non-background class, 26-connected in 3D (8 in 2D);
    one with fewer than ``min_size`` voxels takes the label that is most frequent among the
    voxels touching it (face, edge or corner), so a speck of Pt on alumina becomes alumina and an
    isolated speck in a pore becomes background. A component that touches nothing keeps its label.

    Args:
        labels: ``(y, x)`` or ``(z, y, x)`` integer labels, changed in place.
        min_size: smallest component kept, in voxels.
        background: the label never treated as a component.

    Returns:
        The number of components relabelled.

    Memory: one int32 component-ID array of the labels' shape while a class is processed.
    """
    structure = np.ones((3,) * labels.ndim, dtype=bool)
    removed = 0
    for value in np.unique(labels):
        if value == background:
            continue
        components, _ = ndimage.label(labels == value, structure=structure)
        sizes = np.bincount(components.ravel())
        for index, box in enumerate(ndimage.find_objects(components), start=1):
            if box is None or sizes[index] >= min_size:
                continue
            box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
            component = components[box] == index
            ring = ndimage.binary_dilation(component, structure=structure) & ~component
            around = labels[box][ring]
            if around.size:
                labels[box][component] = np.bincount(around).argmax()
                removed += 1
    return removed
