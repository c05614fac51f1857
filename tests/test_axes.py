"""catseg3d.io.axes against MONAI itself: a volume written by catseg3d and loaded by MONAI's
LoadImage is the adapter's MONAI view of the array, with the adapter's spacing in pixdim."""

from __future__ import annotations

import numpy as np
import torch
from monai.transforms import LoadImage

from catseg3d.io import Volume, write_nifti
from catseg3d.io.axes import (batch_from_monai, batch_to_monai, from_monai, spacing_from_monai, spacing_to_monai,
                              to_monai)
from catseg3d.io.nifti import loaded_spacing_nm


def test_monai_loads_the_adapters_view_and_spacing(tmp_path):
    array = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)  # (z, y, x)
    spacing = (0.5, 0.25, 0.125)
    write_nifti(Volume(array, spacing), tmp_path / "v.nii.gz")
    loaded = LoadImage(image_only=True)(str(tmp_path / "v.nii.gz"))
    assert tuple(loaded.shape) == (5, 4, 3)
    np.testing.assert_array_equal(loaded.numpy(), to_monai(array))
    np.testing.assert_array_equal(from_monai(loaded.numpy()), array)
    assert tuple(loaded.pixdim.tolist()) == spacing_to_monai(spacing)
    assert loaded_spacing_nm(loaded[None], 3) == spacing == spacing_from_monai(loaded.pixdim.tolist())


def test_network_batches_round_trip_in_both_dimensionalities():
    slices = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # (n, y, x)
    batch = batch_to_monai(slices, 2)
    assert batch.shape == (2, 1, 4, 3) and torch.equal(batch[1, 0], slices[1].T)
    assert torch.equal(batch_from_monai(batch, 2)[:, 0], slices)
    volume = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)  # (z, y, x)
    batch = batch_to_monai(volume, 3)
    assert batch.shape == (1, 1, 4, 3, 2) and batch[0, 0, 3, 2, 1] == volume[1, 2, 3]
    assert torch.equal(batch_from_monai(batch, 3)[0], volume)
