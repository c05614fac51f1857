"""Networks: the paper's U-Net for 2D slices and 3D volumes, and where it runs."""

from catseg3d.networks.paper_unet import PAPER_FEATURES, PaperUNet, paper_unet_features
from catseg3d.networks.placement import memory_format_for, place_network

__all__ = ["PAPER_FEATURES", "PaperUNet", "memory_format_for", "paper_unet_features", "place_network"]
