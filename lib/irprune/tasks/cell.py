"""One cell of the cross-task grid: (task, model, method, target sparsity, seed) -> a trained model and metrics.

Protocols (the pruning kernels are :mod:`irprune.pruning`'s, shared with the rankers):

* ``dense``: train from the seeded initialisation for ``train.epochs``.
* one-shot scorers (``magnitude random snip grasp synflow``), ``prune_at: init`` (the protocol of the GraSP/NLP
  report among the sources, ``../shared/seeds/report-grasp-random-nlp.txt``, and of the GraSP/SNIP/SynFlow
  papers): score the seeded initialisation (the same one the dense model started from), mask to the target
  sparsity (SynFlow iteratively, ``synflow_rounds``; Tanaka et al. 2020), then train for ``train.epochs`` with the
  mask fixed.  ``prune_at: dense``: score the trained dense model, mask, fine-tune
  for ``train.finetune_epochs``.
* ``gmp``: Zhu & Gupta (2017) gradual magnitude pruning while fine-tuning the dense model for
  ``train.finetune_epochs``; ``gmp_updates`` cubic-schedule mask updates between ``gmp_start_frac`` and
  ``gmp_end_frac`` of the steps.

Reported: sparsity as the fraction of prunable weights the mask removes (overall and per tensor), the GraSP/NLP
report's compression notation ``c = -log10(density)`` and the ratio ``1/density`` (:mod:`irprune.pruning.sparsity`,
the one tested place), FLOPs (2 x MACs, embedding lookups 0) dense and sparse (:mod:`irprune.tasks.flops`) and FLOP sparsity.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..config import frozen, param
from ..errors import ConfigError
from ..pruning import GMPConfig, GradualPruner, Mask, current_mask, load_plain_state_dict, prune_oneshot
from ..pruning.prunable import nonzero_params
from ..pruning.sparsity import (check_sparsity, compression_from_density, compression_ratio,
                                density_from_sparsity, sparsity_columns)
from ..registry import Registry
from .base import TaskBundle
from .common import TrainHistory, fit, seed_everything
from .flops import count_macs
from .prune import prunable_zeros, task_prunable

Method = Literal["dense", "magnitude", "random", "snip", "grasp", "synflow", "gmp"]


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
    synflow_rounds: int = param(20, ge=1, doc="SynFlow's iterative rounds (exponential schedule)")
    grasp_temperature: float = param(200.0, gt=0, doc="GraSP reference implementation's T")
    gmp_start_frac: float = param(0.0, ge=0, lt=1, doc="GMP: first mask update at this fraction of the steps")
    gmp_end_frac: float = param(0.7, gt=0, le=1, doc="GMP: final sparsity reached at this fraction")
    gmp_updates: int = param(10, ge=1, doc="GMP: number of mask updates after the first")

    def validate(self) -> None:
        if self.gmp_end_frac <= self.gmp_start_frac:
            raise ConfigError(f"params.yaml: tasks.pruning.gmp_end_frac = {self.gmp_end_frac} must exceed "
                              f"gmp_start_frac = {self.gmp_start_frac}")


ONESHOT = ("magnitude", "random", "snip", "grasp", "synflow")
#: method name -> protocol (explicit; the report's palette knows each name)
TASK_METHODS: Registry[str] = Registry("task pruning method")
TASK_METHODS.add("dense", "dense")
for _m in ONESHOT:
    TASK_METHODS.add(_m, "oneshot")
TASK_METHODS.add("gmp", "gmp")


@dataclass
class CellResult:
    """A finished cell: the flat metrics record, the trained (masked) model, its mask and training history."""

    record: dict[str, Any]
    model: nn.Module
    mask: Mask | None
    history: TrainHistory
    extras: dict[str, Any] = field(default_factory=dict)


def _gmp_config(pcfg: TaskPruningConfig, total_steps: int, sparsity: float) -> GMPConfig:
    start = int(pcfg.gmp_start_frac * total_steps)
    span = max(1, int(pcfg.gmp_end_frac * total_steps) - start)
    freq = max(1, span // pcfg.gmp_updates)
    n = max(1, span // freq)
    return GMPConfig(initial_sparsity=0.0, final_sparsity=sparsity, start_step=max(1, start),
                     end_step=max(1, start) + n * freq, frequency=freq, scope=pcfg.scope)


def run_cell(task: TaskBundle, model_name: str, method: str, sparsity: float, seed: int,
             pcfg: TaskPruningConfig = TaskPruningConfig(),
             dense_state: Mapping[str, torch.Tensor] | None = None) -> CellResult:
    """Train and evaluate one cell; ``dense_state`` (the dense model's plain state_dict) is needed by ``gmp``
    and by one-shot methods with ``prune_at: dense``."""
    kind = TASK_METHODS.get(method)
    sparsity = check_sparsity(sparsity, "target_sparsity")
    if kind == "dense" and sparsity != 0.0:
        raise ConfigError(f"method 'dense' has target sparsity 0, got {sparsity}")
    if kind != "dense" and sparsity == 0.0:
        raise ConfigError(f"method {method!r} at target sparsity 0 is the dense model; use method 'dense'")
    from_dense = kind == "gmp" or (kind == "oneshot" and pcfg.prune_at == "dense")
    if from_dense and dense_state is None:
        raise ConfigError(f"method {method!r} (prune_at={pcfg.prune_at}) fine-tunes the dense model: pass "
                          "dense_state (run the dense cell of this task/model/seed first)")
    t0 = time.perf_counter()
    seed_everything(seed)
    model = task.build_model(model_name, seed)
    if from_dense:
        load_plain_state_dict(model, dense_state)  # type: ignore[arg-type]
    prunable = task_prunable(model, pcfg.include)
    train_cfg = task.cfg.train  # type: ignore[attr-defined]
    epochs = train_cfg.finetune_epochs if from_dense else train_cfg.epochs
    batches: Callable[[int], list[Any]] = lambda e: task.batches(e, seed)  # noqa: E731
    after_step = None
    mask: Mask | None = None
    t_prune = 0.0
    if kind == "oneshot":
        tp = time.perf_counter()
        ctx = task.score_context(seed, pcfg.score_batches)
        ctx.grasp_temperature = pcfg.grasp_temperature
        rounds = pcfg.synflow_rounds if method == "synflow" else 1
        mask = prune_oneshot(model, method, sparsity, scope=pcfg.scope, prunable=prunable, ctx=ctx, rounds=rounds)
        t_prune = time.perf_counter() - tp
    elif kind == "gmp":
        steps = len(task.batches(0, seed)) * epochs
        if train_cfg.max_steps is not None:
            steps = min(steps, train_cfg.max_steps)
        pruner = GradualPruner(model, _gmp_config(pcfg, steps, sparsity), prunable=prunable)
        after_step = pruner.step
    history = fit(model, batches, task.loss, train_cfg, task.device, epochs=epochs, after_step=after_step)
    if kind == "gmp":
        installed = current_mask(model)
        mask = Mask({n: installed[n] for n in prunable}) if installed else None
    metrics = task.evaluate(model)
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
        "prune_at": ("dense" if from_dense else "init") if kind != "dense" else None,
        # per-tensor share of weights removed: shows layer collapse (Tanaka et al. 2020) of a global ranking
        "tensor_sparsity": {row["name"]: row["sparsity"] for row in mask.report()} if mask is not None else {},
        "wall_time_s": time.perf_counter() - t0,
    }
    return CellResult(record, model, mask, history)


def schema_cell(record: Mapping[str, Any]) -> dict[str, Any]:
    """The cell row of :mod:`irprune.cells.schema` (exactly its columns, validated) from a cell record."""
    from ..cells.schema import COLUMNS, make_cell

    return make_cell(**{k.replace("@", "_at_"): v for k, v in record.items() if k in COLUMNS})


__all__ = ["TaskPruningConfig", "TASK_METHODS", "ONESHOT", "CellResult", "run_cell", "schema_cell"]
