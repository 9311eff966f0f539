"""Config of the ``bm25`` stage."""

from __future__ import annotations

from ..bm25 import BM25Config
from ..config import frozen, param
from ..evaluation import EvalConfig
from ..first_stage import FirstStageConfig


@frozen
class BM25Stage:
    """First-stage candidates for every split (BM25, or BM25 with dense), and the BM25 baseline's metrics."""

    bm25: BM25Config = param(BM25Config)
    evaluation: EvalConfig = param(EvalConfig)
    first_stage: FirstStageConfig = param(FirstStageConfig)
