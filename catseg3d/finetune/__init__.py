"""Fine-tuning a model on a user's labelled slices: the dataset, and the pieces of finetune.yaml."""

from catseg3d.finetune.command import FinetuneResult, finetune
from catseg3d.finetune.dataset import FinetuneData, labelled_slices, prepare_finetune_dataset
from catseg3d.finetune.workflow import (class_weights, from_scratch, parent_class_names, prepare_finetune_folder,
                                        record_training, start_from, starting_features)

__all__ = ["FinetuneData", "FinetuneResult", "finetune", "class_weights", "from_scratch", "labelled_slices", "parent_class_names",
           "prepare_finetune_dataset", "prepare_finetune_folder", "record_training", "start_from",
           "starting_features"]
