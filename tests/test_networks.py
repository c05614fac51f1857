"""The paper's U-Net: parameter count, architecture, initialisation, shapes and errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from catseg3d.networks import PaperUNet


def test_parameter_count_equals_the_authors_keras_model():
    network = PaperUNet(spatial_dims=2, in_channels=1, out_channels=3)
    assert sum(p.numel() for p in network.parameters()) == 31_093_987


def test_architecture_six_down_five_up_average_pooling():
    network = PaperUNet()
    assert len(network.down) == 6 and len(network.up) == 5 and len(network.upsample) == 5
    assert isinstance(network.pool, nn.AvgPool2d)
    assert [b[0].out_channels for b in network.down] == [32, 64, 128, 256, 512, 1024]
    assert all(u.kernel_size == (2, 2) and u.stride == (2, 2) for u in network.upsample)
    assert network.head.kernel_size == (1, 1) and network.head.out_channels == 3


def test_he_normal_weights_and_zero_biases():
    torch.manual_seed(0)
    network = PaperUNet()
    conv = network.down[5][2]  # 1024 -> 1024, fan-in 1024 * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (1024 * 9)), rel=0.01)
    assert conv.weight.mean().abs().item() < 1e-4
    assert all((m.bias == 0).all() for m in network.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def test_2d_output_is_logits_of_input_size():
    network = PaperUNet(features=(4, 8, 16, 32, 64, 128)).eval()
    with torch.no_grad():
        out = network(torch.rand(2, 1, 64, 96))
    assert out.shape == (2, 3, 64, 96)
    assert not torch.allclose(out.softmax(1).sum(1), out.sum(1))  # not already a softmax


def test_3d_variant_output_shape():
    network = PaperUNet(spatial_dims=3, in_channels=2, out_channels=4, features=(4, 8, 16, 32, 64, 128))
    assert isinstance(network.pool, nn.AvgPool3d)
    with torch.no_grad():
        assert network(torch.rand(1, 2, 32, 64, 96)).shape == (1, 4, 32, 64, 96)


def test_size_not_a_multiple_of_32_is_a_clear_error():
    network = PaperUNet(features=(4, 8, 16, 32, 64, 128))
    with pytest.raises(ValueError, match=r"multiples of 32, got input shape \[1, 1, 64, 100\]"):
        network(torch.rand(1, 1, 64, 100))


def test_bad_arguments():
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3"):
        PaperUNet(spatial_dims=1)
    with pytest.raises(ValueError, match="at least two feature sizes"):
        PaperUNet(features=(32,))
