"""One-hot predictions and labels for the training metrics, with unlabelled pixels left out."""

from __future__ import annotations

from typing import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import convert_to_dst_type

from catseg3d.io.labels import UNLABELLED


class OneHotLabelledd(MapTransform):
    """MONAI dictionary transform: class indices to one-hot, all zeros where ``label_key`` is
    unlabelled.

    MONAI's metrics (``MeanDice``, ``ConfusionMatrix``) then count only labelled pixels: a pixel
    whose prediction and truth are both all-zero is neither a true nor a false positive of any
    class. Dense labels give the same one-hot as ``AsDiscreted(to_onehot=num_classes)``.

    Args:
        keys: keys of class-index arrays ``(1, *spatial)``, e.g. ``["pred", "label"]`` after
            ``AsDiscreted(keys="pred", argmax=True)``.
        num_classes: number of classes ``C``; output ``(C, *spatial)`` float32 with the input's
            metadata.
        label_key: the key whose :data:`~catseg3d.io.labels.UNLABELLED` pixels are left out.
        ignore_index: the index of unlabelled pixels.
    """

    def __init__(self, keys: KeysCollection, num_classes: int, label_key: str = "label",
                 ignore_index: int = UNLABELLED, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.num_classes = int(num_classes)
        self.label_key = label_key
        self.ignore_index = ignore_index

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        labelled = torch.as_tensor(d[self.label_key]) != self.ignore_index
        for key in self.key_iterator(d):
            indices = torch.as_tensor(d[key]).long()
            indices = torch.where(labelled, indices, torch.zeros_like(indices))
            if indices.shape[0] != 1 or (indices >= self.num_classes).any() or (indices < 0).any():
                raise ValueError(f"{key}: expected class indices 0..{self.num_classes - 1} of shape (1, ...), "
                                 f"got shape {tuple(indices.shape)} and values {indices.min()}..{indices.max()}")
            one_hot = torch.nn.functional.one_hot(indices[0], self.num_classes).movedim(-1, 0) * labelled
            d[key] = convert_to_dst_type(one_hot.float(), d[key], dtype=torch.float32)[0]
        return d
