"""Running MONAI's training workflows: checkpoints, run folders, torchrun, switches, one-line errors."""

from catseg3d.engines.checkpoints import (RelocatableDiskSaver, completed_epochs, latest_checkpoint, parts_to_resume,
                                          resume_checkpoint,
                                          trained_classes, trained_features, trained_model, trained_state)
from catseg3d.engines.distributed import init_distributed, leave_distributed, log_on_rank_zero_only, rank
from catseg3d.engines.errors import report_input_errors_in_one_line
from catseg3d.engines.flags import as_bool
from catseg3d.engines.run_folder import RunFolderInUse, prepare_run_folder

__all__ = ["RelocatableDiskSaver", "RunFolderInUse", "as_bool", "completed_epochs", "init_distributed",
           "latest_checkpoint", "leave_distributed", "log_on_rank_zero_only", "parts_to_resume", "prepare_run_folder", "rank",
           "report_input_errors_in_one_line", "resume_checkpoint", "trained_classes", "trained_features", "trained_model", "trained_state"]
