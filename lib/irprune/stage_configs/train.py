"""Config of the ``train`` stage (``train@<model>-<seed>``: a ``matrix`` over ``rankers`` x ``grid.train_seeds``)."""

from __future__ import annotations

from typing import Optional

from ..config import frozen, param
from ..costs.summary import CostsConfig
from ..evaluation import EvalConfig
from ..significance import SignificanceConfig
from ..training.config import TrainConfig
from ..training.spec import ModelSpec
from .common import matrix_model_section, section_param


@frozen
class TrainStage:
    """Train one ranker at one training seed (``train@<model>-<seed>``), re-rank dev/test, evaluate, test against
    BM25."""

    train: TrainConfig = param(TrainConfig)
    evaluation: EvalConfig = param(EvalConfig)
    significance: SignificanceConfig = param(SignificanceConfig)
    costs: CostsConfig = param(CostsConfig)
    model: Optional[ModelSpec] = section_param("models.{item.model}", matrix_model_section)
