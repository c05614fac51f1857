"""Engine helpers for MONAI's Ignite workflows: CPU mixed precision, progress, resuming."""

from catseg3d.engines.autocast import AutocastInferer, memory_format_for, place_network
from catseg3d.engines.checkpoints import (RelocatableDiskSaver, completed_epochs, latest_checkpoint, resume_checkpoint,
                                          trained_features, trained_model, trained_state)
from catseg3d.engines.distributed import init_distributed, log_on_rank_zero_only, rank
from catseg3d.engines.errors import report_input_errors_in_one_line
from catseg3d.engines.flags import as_bool
from catseg3d.engines.flip_averaging import FlipAveragingInferer
from catseg3d.engines.progress import ProgressBar, first_loss
from catseg3d.engines.run_folder import RunFolderInUse, prepare_run_folder
from catseg3d.engines.resampling import ResamplingInferer, resampled_shape
from catseg3d.engines.reflection_padding import ReflectionPaddingInferer, padded_shape, reflection_borders
from catseg3d.engines.time_limit import ComputeTimeLimit

__all__ = ["AutocastInferer", "ComputeTimeLimit", "FlipAveragingInferer", "ProgressBar", "ReflectionPaddingInferer",
           "RelocatableDiskSaver", "ResamplingInferer", "RunFolderInUse", "prepare_run_folder", "resampled_shape", "as_bool", "completed_epochs", "first_loss", "init_distributed",
           "latest_checkpoint", "log_on_rank_zero_only", "memory_format_for", "padded_shape", "place_network", "rank",
           "reflection_borders", "report_input_errors_in_one_line", "resume_checkpoint", "trained_features", "trained_model", "trained_state"]
