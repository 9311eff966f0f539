"""One cell of the cross-task grid: (task, model, method, target sparsity, seed) -> a trained model and metrics.

:class:`TaskCell` is the adapter of the classification, translation and vision tasks for the one cell layer
(:func:`irprune.pruning.driver.run_method` runs the registered procedures of :mod:`irprune.pruning.methods`);
:func:`run_cell` builds the model, calls the driver and writes the record.  Protocols:

* ``dense``: train from the seeded initialisation for ``train.epochs``.
* one-shot scorers (``magnitude random snip grasp synflow``), ``prune_at: init`` (the protocol of the GraSP/NLP
  report among the sources, ``../shared/seeds/report-grasp-random-nlp.txt``, and of the GraSP/SNIP/SynFlow
  papers): score the seeded initialisation (the same one the dense model started from), mask to the target
  sparsity (SynFlow iteratively, ``synflow_rounds``; Tanaka et al. 2020), then train for ``train.epochs`` with the
  mask fixed.  ``prune_at: dense``: score the trained dense model, mask, fine-tune
  for ``train.finetune_epochs``.
* ``gmp``: Zhu & Gupta (2017) gradual magnitude pruning while fine-tuning the dense model for
  ``train.finetune_epochs``; ``gmp.updates + 1`` cubic-schedule mask updates every ``Δt`` from ``gmp.start_frac``
  of the steps up to ``gmp.end_frac`` (:func:`irprune.pruning.schedules.gmp_steps`, the one schedule of every
  task).

Reported: sparsity as the fraction of prunable weights the mask removes (overall and per tensor), the GraSP/NLP
report's compression notation ``c = -log10(density)`` and the ratio ``1/density`` (:mod:`irprune.pruning.sparsity`,
the one tested place), FLOPs (2 x MACs, embedding lookups 0) dense and sparse (:mod:`irprune.tasks.flops`) and FLOP sparsity.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..config import frozen, param
from ..errors import ConfigError
from ..pruning import GMPSchedule, Mask, MethodSettings, ScoreContext, load_plain_state_dict
from ..pruning.cell import TrainHooks
from ..pruning.driver import check_cell, run_method
from ..pruning.methods import ONESHOT
from ..pruning.prunable import nonzero_params
from ..pruning.settings import SYNFLOW_ROUNDS
from ..pruning.sparsity import (compression_from_density, compression_ratio, density_from_sparsity,
                                sparsity_columns)
from .base import TaskBundle
from .common import TrainHistory, fit, seed_everything
from .flops import count_macs
from .prune import prunable_zeros, task_prunable


@frozen
class TaskPruningConfig:
    """``tasks.pruning`` in ``params.yaml``: how the cross-task cells prune."""

    prune_at: Literal["init", "dense"] = param("init", doc="one-shot scorers: score the initialisation (seed "
                                                            "report, GraSP/SNIP/SynFlow papers) or the dense model")
    scope: Literal["global", "layerwise"] = param("global", doc="rank all prunable weights together or per tensor")
    include: tuple[Literal["linear", "embedding", "conv"], ...] = param(
        ("linear", "embedding", "conv"), nonempty=True,
        doc="kinds of weights pruned (the GraSP/NLP report pruned [linear] only; conv: the vision models' kernels)")
    score_batches: int = param(4, ge=1, doc="training batches summed by SNIP and GraSP")
    synflow_rounds: int = param(SYNFLOW_ROUNDS, ge=1, doc="SynFlow's iterative rounds (Tanaka et al. 2020: 100)")
    grasp_temperature: float = param(200.0, gt=0, doc="GraSP reference implementation's T")
    gmp: GMPSchedule = param(GMPSchedule, doc="GMP (fine-tunes the dense model): when it prunes")

    def settings(self) -> MethodSettings:
        return MethodSettings(scope=self.scope, score_batches=self.score_batches, synflow_rounds=self.synflow_rounds,
                              grasp_temperature=self.grasp_temperature, gmp=self.gmp)


#: what the cross-task cells run (names of :data:`irprune.pruning.methods.METHODS`; the report's palette knows each)
TASK_METHODS: tuple[str, ...] = ("dense", *ONESHOT, "gmp")


def fine_tunes_dense(method: str, pcfg: TaskPruningConfig) -> bool:
    """Whether ``method`` starts from the trained dense model (GMP, and one-shot scorers with ``prune_at: dense``)."""
    return method == "gmp" or (method in ONESHOT and pcfg.prune_at == "dense")


@dataclass
class TaskCell:
    """The adapter (:class:`irprune.pruning.cell.TaskAdapter`) of one task bundle's model: trains ``epochs`` with
    the bundle's batches and loss (:func:`irprune.tasks.common.fit`), scores on its batches, evaluates on its test
    split."""

    bundle: TaskBundle
    model: nn.Module
    cfg: TaskPruningConfig
    seed: int
    epochs: int
    epochs_key: str = "epochs"
    methods: tuple[str, ...] = TASK_METHODS
    config_key: str = "tasks.pruning"
    history: TrainHistory = field(default_factory=TrainHistory)
    _steps: int | None = None

    @property
    def family(self) -> str:
        return self.bundle.task

    @property
    def budget_key(self) -> str:
        return f"tasks.{self.bundle.task}.train.{self.epochs_key}"

    @property
    def settings(self) -> MethodSettings:
        return self.cfg.settings()

    def prunable(self, kinds: tuple[str, ...] | None = None) -> dict[str, nn.Parameter]:
        return task_prunable(self.model, self.cfg.include if kinds is None else kinds)

    def train_steps(self) -> int:
        if self._steps is None:
            steps = len(self.bundle.batches(0, self.seed)) * self.epochs
            max_steps = self.bundle.cfg.train.max_steps  # type: ignore[attr-defined]
            self._steps = steps if max_steps is None else min(steps, max_steps)
        return self._steps

    def train(self, hooks: TrainHooks, steps: int | None = None) -> TrainHistory:
        if steps is not None or hooks.after_backward is not None:
            raise ConfigError(f"{self.family} cells train whole epochs with an after-step hook only; "
                              f"run one of {', '.join(self.methods)}")
        self.history = fit(self.model, lambda e: self.bundle.batches(e, self.seed), self.bundle.loss,
                           self.bundle.cfg.train, self.bundle.device,  # type: ignore[attr-defined]
                           epochs=self.epochs, after_step=hooks.after_step)
        return self.history

    def score_context(self, data: bool) -> ScoreContext:
        ctx = self.bundle.score_context(self.seed, self.cfg.score_batches)   # built for every scorer, as always
        ctx.grasp_temperature = self.cfg.grasp_temperature
        return ctx

    def evaluate(self) -> dict[str, Any]:
        return self.bundle.evaluate(self.model)


@dataclass
class CellResult:
    """A finished cell: the flat metrics record, the trained (masked) model, its mask and training history."""

    record: dict[str, Any]
    model: nn.Module
    mask: Mask | None
    history: TrainHistory
    extras: dict[str, Any] = field(default_factory=dict)


def run_cell(task: TaskBundle, model_name: str, method: str, sparsity: float, seed: int,
             pcfg: TaskPruningConfig = TaskPruningConfig(),
             dense_state: Mapping[str, torch.Tensor] | None = None) -> CellResult:
    """Train and evaluate one cell; ``dense_state`` (the dense model's plain state_dict) is needed by ``gmp``
    and by one-shot methods with ``prune_at: dense``."""
    sparsity = check_cell(method, sparsity, TASK_METHODS, task.task)
    from_dense = fine_tunes_dense(method, pcfg)
    if from_dense and dense_state is None:
        raise ConfigError(f"method {method!r} (prune_at={pcfg.prune_at}) fine-tunes the dense model: pass "
                          "dense_state (run the dense cell of this task/model/seed first)")
    t0 = time.perf_counter()
    seed_everything(seed)
    model = task.build_model(model_name, seed)
    if from_dense:
        load_plain_state_dict(model, dense_state)  # type: ignore[arg-type]
    train_cfg = task.cfg.train  # type: ignore[attr-defined]
    epochs = train_cfg.finetune_epochs if from_dense else train_cfg.epochs
    adapter = TaskCell(task, model, pcfg, seed, epochs, "finetune_epochs" if from_dense else "epochs")
    cell = run_method(adapter, method, sparsity, seed)
    history, mask, prunable = adapter.history, cell.mask, cell.prunable
    t_prune = 0.0 if method == "dense" else time.perf_counter() - t0 - history.wall_time_s
    metrics = adapter.evaluate()
    macs = count_macs(model, task.mac_example())
    achieved = mask.sparsity if mask is not None else 0.0
    zeros, n_prunable = prunable_zeros(prunable, model)
    record: dict[str, Any] = {
        "task": task.task, "model": model_name, "method": method, "target_sparsity": sparsity,
        "achieved_sparsity": achieved, "zero_fraction": zeros / n_prunable,
        "density": 1.0 - achieved,
        "compression": compression_from_density(density_from_sparsity(sparsity)),
        "achieved_compression": compression_from_density(1.0 - achieved) if achieved < 1 else None,
        "compression_ratio": compression_ratio(1.0 - achieved) if achieved < 1 else None,
        "seed": seed, "split": "test", **metrics,
        "primary_metric": task.primary_metric, "primary_value": metrics[task.primary_metric],
        **sparsity_columns(model, prunable), "nonzero_params": nonzero_params(model),
        "flops_dense": macs.flops_dense, "flops_sparse": macs.flops_sparse, "flop_sparsity": macs.flop_sparsity,
        "epochs": epochs, "steps": history.steps, "train_time_s": history.wall_time_s, "prune_time_s": t_prune,
        "prune_at": ("dense" if from_dense else "init") if method != "dense" else None,
        # per-tensor share of weights removed: shows layer collapse (Tanaka et al. 2020) of a global ranking
        "tensor_sparsity": {row["name"]: row["sparsity"] for row in mask.report()} if mask is not None else {},
        "wall_time_s": time.perf_counter() - t0,
    }
    return CellResult(record, model, mask, history)


def schema_cell(record: Mapping[str, Any]) -> dict[str, Any]:
    """The cell row of :mod:`irprune.cells.schema` (exactly its columns, validated) from a cell record."""
    from ..cells.schema import COLUMNS, make_cell

    return make_cell(**{k.replace("@", "_at_"): v for k, v in record.items() if k in COLUMNS})


__all__ = ["TaskPruningConfig", "TaskCell", "TASK_METHODS", "ONESHOT", "CellResult", "fine_tunes_dense", "run_cell",
           "schema_cell"]
