"""Inference: load a trained model and segment whole tomograms in bounded memory."""

from catseg3d.inference.model import SegmentationModel, load_segmentation_model
from catseg3d.inference.postprocess import RemoveSmallComponentsd, remove_small_components
from catseg3d.inference.predictor import Predictor
from catseg3d.inference.segment import SegmentSummary, segment

__all__ = ["Predictor", "RemoveSmallComponentsd", "SegmentSummary", "SegmentationModel", "load_segmentation_model",
           "remove_small_components", "segment"]
