"""Config of the ``bm25`` stage."""

from __future__ import annotations

from ..bm25 import BM25Config
from ..config import frozen, param
from ..evaluation import EvalConfig


@frozen
class BM25Stage:
    """First-stage BM25 candidates for every split, and the BM25 baseline's metrics."""

    bm25: BM25Config = param(BM25Config)
    evaluation: EvalConfig = param(EvalConfig)
