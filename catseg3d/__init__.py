"""catseg3d: MONAI-based segmentation of electron tomograms of supported-metal catalysts.

Data flows one way through the sub-packages: ``io`` -> ``networks``/``losses`` -> ``engines``
-> ``cli``. Array axis order everywhere in memory is numpy's ``(z, y, x)`` (``(y, x)`` for a
single image) and spacings are in nanometres in the same order.
"""

__version__ = "0.1.0"
