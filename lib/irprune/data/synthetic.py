"""PLACEHOLDER: the seeded synthetic MS MARCO-shaped benchmark (being written)."""

from __future__ import annotations

from ..config import frozen, param
from .types import RetrievalDataset


@frozen
class SyntheticConfig:
    seed: int = param(13, ge=0)
    n_docs: int = param(5000, ge=10)


def generate(cfg: SyntheticConfig) -> RetrievalDataset:
    raise NotImplementedError("synthetic generator not written yet")
