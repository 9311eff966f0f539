"""The interface every task bundle implements, so :mod:`irprune.tasks.cell` drives any task the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from ..pruning.scorers import ScoreContext


class TaskBundle(Protocol):
    """A task with its data already loaded and encoded.

    ``batches(epoch, seed)`` are collated, on-device training batches (shuffled by ``seed`` and ``epoch``);
    ``loss(model, batch)`` is the training loss; ``score_context(seed, n_batches)`` feeds SNIP/GraSP/SynFlow;
    ``evaluate(model)`` returns the task's metrics on the test split (``primary_metric`` among them);
    ``mac_example()`` runs a model on one representative example for :func:`irprune.tasks.flops.count_macs`.
    """

    task: str
    primary_metric: str
    metric_names: tuple[str, ...]
    models: tuple[str, ...]
    device: torch.device

    def build_model(self, model: str, seed: int) -> nn.Module: ...

    def batches(self, epoch: int, seed: int) -> list[Any]: ...

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor: ...

    def score_context(self, seed: int, n_batches: int) -> ScoreContext: ...

    def evaluate(self, model: nn.Module) -> dict[str, float]: ...

    def mac_example(self) -> Callable[[nn.Module], object]: ...

    def describe(self) -> dict[str, Any]: ...
