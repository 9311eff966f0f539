"""Pruning DSI: the DSI adapter of the one cell layer, and the sparsity of encoder and decoder.

Methods (:data:`DSI_METHODS`, procedures of :mod:`irprune.pruning.methods`; another name lists these):

* ``magnitude`` -- train-prune-recover, as in the DSI/T5 pruning slides among the sources
  (``../shared/seeds/slides-dsi-t5-pruning.txt``): one-shot unstructured L1 magnitude pruning (Han et al. 2015) of
  the trained network's weight matrices with :func:`irprune.pruning.prune_oneshot`, then ``recovery_steps`` of
  training with the masks fixed (the mask parametrization keeps pruned weights exactly zero).
* ``gmp`` -- gradual magnitude pruning (Zhu & Gupta 2017, cubic schedule) during the same ``recovery_steps`` of
  training, with :class:`irprune.pruning.GradualPruner` (updates at ``gmp.start_frac .. gmp.end_frac`` of the steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..errors import ConfigError
from ..pruning import (Mask, MethodSettings, PruningLog, ScoreContext, current_mask, fold, pqi_global,
                       prunable_parameters)
from ..pruning.cell import TrainHooks
from ..pruning.driver import run_method
from ..pruning.prunable import effective_named_tensors
from .config import DSIPruneConfig, DSITrainConfig
from .data import TrainExamples
from .model import DSIModel
from .train import DSITrainResult, train_dsi


def dsi_prunable(net: nn.Module, include_embeddings: bool = False) -> dict[str, nn.Parameter]:
    """The weight matrices of a DSI network that are pruned: every ``nn.Linear`` of encoder and decoder
    (attention q/k/v/o, cross-attention, feed-forward; arch bert also its output transform), and the embedding
    matrices -- among them the id-token output layer tied to the decoder's embedding (T5's ``shared.weight``, arch
    bert's decoder word embedding: the network's ``get_output_embeddings()``) -- only with ``include_embeddings``.
    An untied ``lm_head`` (pretrained T5 v1.1) counts as the embedding matrix."""
    kinds = ("linear", "embedding") if include_embeddings else ("linear",)
    out = net.get_output_embeddings()
    excl = () if include_embeddings else tuple(
        f"{name}.weight" for name, m in net.named_modules(remove_duplicate=False) if m is out)
    return prunable_parameters(net, include=kinds, exclude_names=excl)


def sparsity_by_prefix(net: nn.Module, prefixes: tuple[str, ...] = ("encoder.", "decoder."),
                       names: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Fraction of zero weights among the prunable tensors (``names``; default :func:`dsi_prunable` with
    embeddings) under each prefix, as the forward pass sees them, plus ``all``; keys are the prefixes without
    the dot."""
    names = dsi_prunable(net, include_embeddings=True) if names is None else names
    zeros = {p: 0 for p in prefixes}
    totals = {p: 0 for p in prefixes}
    z_all = n_all = 0
    with torch.no_grad():
        for name, t in effective_named_tensors(net):
            if name not in names:
                continue
            z, n = int((t == 0).sum()), t.numel()
            z_all, n_all = z_all + z, n_all + n
            for p in prefixes:
                if name.startswith(p):
                    zeros[p] += z
                    totals[p] += n
    out = {p.rstrip("."): zeros[p] / totals[p] if totals[p] else 0.0 for p in prefixes}
    out["all"] = z_all / n_all if n_all else 0.0
    return out


def tensor_sparsity(net: nn.Module, names: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per prunable tensor: ``name``, ``numel``, ``zeros`` and ``sparsity`` of the weights the forward pass sees."""
    rows = []
    with torch.no_grad():
        for name, t in effective_named_tensors(net):
            if name in names:
                z = int(t.numel() - torch.count_nonzero(t))
                rows.append({"name": name, "numel": t.numel(), "zeros": z, "sparsity": z / t.numel()})
    return rows


@dataclass
class PruneResult:
    mask: Mask
    sparsity: dict[str, float]       # after recovery: encoder / decoder / all (prunable tensors)
    recovery: DSITrainResult | None
    method: str = "magnitude"
    pqi: float | None = None         # PQ Index of the kept weights after recovery (Diao et al. 2023)
    tensors: list[dict[str, Any]] | None = None
    task: Any = None                 # the DSITask (evaluates the pruned model)


#: what DSI cells run (names of :data:`irprune.pruning.methods.METHODS`)
DSI_METHODS: tuple[str, ...] = ("magnitude", "gmp")


@dataclass
class DSITask:
    """The DSI adapter (:class:`irprune.pruning.cell.TaskAdapter`): the network's weight matrices
    (:func:`dsi_prunable`), recovery training with :func:`irprune.dsi.train.train_dsi` (``recovery_steps`` at
    ``recovery_lr``; checkpoint selection from the step the mask is final), retrieval evaluation (``evaluator``)."""

    dsi: DSIModel
    ex: TrainExamples
    train_cfg: DSITrainConfig
    cfg: DSIPruneConfig
    train_kw: dict[str, Any] = field(default_factory=dict)
    evaluator: Callable[[DSIModel], dict[str, Any]] | None = None
    family: str = "DSI"
    methods: tuple[str, ...] = DSI_METHODS
    config_key: str = "dsi.prune"
    budget_key: str = "dsi.prune.recovery_steps"

    @property
    def model(self) -> nn.Module:
        """The network (what is pruned; ``dsi`` also holds the tokenizer and the document ids)."""
        return self.dsi.net

    @property
    def settings(self) -> MethodSettings:
        return MethodSettings(scope=self.cfg.scope, gmp=self.cfg.gmp)

    def prunable(self, kinds: tuple[str, ...] | None = None) -> dict[str, nn.Parameter]:
        if kinds is not None:
            return prunable_parameters(self.model, include=kinds)
        return dsi_prunable(self.model, self.cfg.include_embeddings)

    def train_steps(self) -> int:
        return self.cfg.recovery_steps

    def train(self, hooks: TrainHooks, steps: int | None = None) -> DSITrainResult | None:
        steps = self.cfg.recovery_steps if steps is None else steps
        if not steps:
            return None
        kw: dict[str, Any] = {}
        if hooks.after_step is not None:
            kw.update(after_step=hooks.after_step, select_from=hooks.mask_final_at)
        return train_dsi(self.dsi, self.ex, self.train_cfg, lr=self.cfg.recovery_lr, steps=steps, **self.train_kw,
                         **kw)

    def score_context(self, data: bool) -> ScoreContext:
        if data:
            raise ConfigError(f"DSI cells have no scoring batches; run one of {', '.join(self.methods)}")
        return ScoreContext()

    def evaluate(self) -> dict[str, Any]:
        """The metrics of ``evaluator(model)`` (the stage's retrieval and scoring of the test queries)."""
        if self.evaluator is None:
            raise ConfigError("DSITask.evaluator is not set: pass the retrieval evaluation (the dsi_prune stage's)")
        return self.evaluator(self.dsi)


def prune_recover(model: DSIModel, sparsity: float, ex: TrainExamples, train_cfg: DSITrainConfig,
                  cfg: DSIPruneConfig = DSIPruneConfig(), *, method: str = "magnitude", dev: Any = None,
                  beam_size: int = 10, relevance_level: int = 1, keep_masks: bool = False, log: Any = print,
                  pruning_log: PruningLog | None = None,
                  evaluator: Callable[[DSIModel], dict[str, Any]] | None = None) -> PruneResult:
    """Prune ``model`` in place to ``sparsity`` with ``method`` (:data:`DSI_METHODS`, ``cfg.scope``), training
    ``cfg.recovery_steps`` steps at ``cfg.recovery_lr`` (masks fixed, or GMP's schedule), then fold the masks into
    plain zero weights (unless ``keep_masks``).  Checkpoint selection during recovery follows
    ``train_cfg.selection`` when ``dev`` is given (``cfg.selection = "train"``), else the final weights.
    Mask updates are recorded in ``pruning_log``; a last entry records the recovered weights.  The one driver
    (:func:`irprune.pruning.driver.run_method`) runs the procedure on a :class:`DSITask`."""
    task = DSITask(model, ex, train_cfg, cfg, {"dev": dev, "beam_size": beam_size, "relevance_level": relevance_level,
                                               "log": log}, evaluator)
    cell = run_method(task, method, sparsity, train_cfg.seed, log=pruning_log)
    rec, prunable = cell.recovery, cell.prunable
    installed = current_mask(model.net)
    mask = Mask({n: installed[n] for n in prunable})
    pqi = float(pqi_global(model.net, mask))
    if pruning_log is not None:
        pruning_log.record(model.net, mask, method=method, step=cfg.recovery_steps, target_sparsity=float(sparsity))
    if not keep_masks:
        fold(model.net)
    return PruneResult(mask=mask, sparsity=sparsity_by_prefix(model.net, names=prunable), recovery=rec,
                       method=method, pqi=pqi, tensors=tensor_sparsity(model.net, prunable), task=task)


__all__ = ["dsi_prunable", "sparsity_by_prefix", "tensor_sparsity", "prune_recover", "PruneResult", "DSI_METHODS",
           "DSITask"]
