"""Clean-up of label volumes after inference."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import convert_to_dst_type, convert_to_numpy
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


class RemoveSmallComponentsd(MapTransform):
    """Dictionary transform: :func:`remove_small_components` on channel-first label maps.

    For a MONAI post-processing chain (after ``AsDiscreted(argmax=True)``, before one-hot), so that
    a workflow scores or writes what ``catseg3d segment --min-size`` writes.

    Args:
        keys: keys of ``(1, *spatial)`` label maps (class indices, any numeric dtype; 2 or 3
            spatial axes in any order: the connectivity is the same along every axis).
        min_size: smallest component kept, in pixels (voxels in 3D); 0 or 1 leaves the labels
            as they are.
        allow_missing_keys: do not raise for a missing key.

    Raises:
        ValueError: a label map with more than one channel.
    """

    def __init__(self, keys: KeysCollection, min_size: int, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.min_size = int(min_size)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        if self.min_size <= 1:
            return d
        for key in self.key_iterator(d):
            labels = d[key]
            if labels.shape[0] != 1:
                raise ValueError(f"RemoveSmallComponentsd: {key!r} holds {labels.shape[0]} channels; it needs one "
                                 "channel of class indices (argmax first)")
            array = convert_to_numpy(labels[0]).astype(np.int64)
            remove_small_components(array, self.min_size)
            d[key] = convert_to_dst_type(array[None], labels)[0]
        return d
