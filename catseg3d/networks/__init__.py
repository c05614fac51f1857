"""Networks: the paper's U-Net for 2D slices and 3D volumes."""

from catseg3d.networks.paper_unet import PAPER_FEATURES, PaperUNet, paper_unet_features

__all__ = ["PAPER_FEATURES", "PaperUNet", "paper_unet_features"]
