"""The published figures of Genc, Kovarik & Fraser (2022) that catseg3d's reports sit beside."""

from catseg3d.io.genc2022 import CLASS_NAMES

__all__ = ["CLASS_NAMES", "GENC2022_TABLE_1"]

# Table 1: mean and 95 % CI over the 15 validation patches (Pt: n = 14)
GENC2022_TABLE_1 = {
    "dsc": {"background": (0.993, 0.003), "alumina": (0.964, 0.003), "pt": (0.845, 0.034)},
    "precision": {"background": (0.994, 0.002), "alumina": (0.956, 0.008), "pt": (0.920, 0.033)},
    "recall": {"background": (0.991, 0.004), "alumina": (0.972, 0.004), "pt": (0.785, 0.047)},
}
