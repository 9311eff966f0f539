"""Config of the ``prune`` stage (one cell of the pruning grid, a ``matrix`` stage)."""

from __future__ import annotations

from typing import Optional

from ..config import frozen, param
from ..costs.summary import CostsConfig
from ..evaluation import EvalConfig
from ..prune_cell import PruneConfig
from ..training.config import TrainConfig
from ..training.spec import ModelSpec
from .common import matrix_model_section, section_param


@frozen
class PruneStage:
    """One cell of the pruning grid (``prune@<model>-<method>-<sparsity>-<seed>``, a ``matrix`` stage)."""

    prune: PruneConfig = param(PruneConfig)
    train: TrainConfig = param(TrainConfig)
    evaluation: EvalConfig = param(EvalConfig)
    costs: CostsConfig = param(CostsConfig)
    model: Optional[ModelSpec] = section_param("models.{item.model}", matrix_model_section)
