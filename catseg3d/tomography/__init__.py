"""Single-axis tilt tomography: a parallel-beam projector and SIRT / MLEM reconstruction."""

from catseg3d.tomography.projector import parallel_projection_matrix, project_volume
from catseg3d.tomography.reconstruct import METHODS, reconstruct_tilt_series

__all__ = ["METHODS", "parallel_projection_matrix", "project_volume", "reconstruct_tilt_series"]
