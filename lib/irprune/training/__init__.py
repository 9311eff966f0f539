"""Training of the rankers on BM25 hard negatives: config, group sampling, losses, the shared trainer loop with
pruning hooks, early stopping and resume."""

from .callbacks import LambdaCallback, TrainerCallback
from .config import TrainConfig, merged
from .evaluator import DevEvaluator
from .losses import LOSSES, group_loss
from .sampling import TrainingPool, batch_groups, build_pool, sample_group
from .trainer import Trainer, TrainResult

__all__ = ["LambdaCallback", "TrainerCallback", "TrainConfig", "merged", "DevEvaluator", "LOSSES", "group_loss",
           "TrainingPool", "batch_groups", "build_pool", "sample_group", "Trainer", "TrainResult"]
