"""Pruning DSI: train-prune-recover and gradual magnitude pruning, and the sparsity of encoder and decoder.

Methods (registry :data:`DSI_METHODS`; an unknown name lists the known ones):

* ``magnitude`` -- train-prune-recover, as in the DSI/T5 pruning slides among the sources
  (``../shared/seeds/slides-dsi-t5-pruning.txt``): one-shot unstructured L1 magnitude pruning (Han et al. 2015) of
  the trained T5's weight matrices with :func:`irprune.pruning.prune_oneshot`, then ``recovery_steps`` of training
  with the masks fixed (the mask parametrization keeps pruned weights exactly zero).
* ``gmp`` -- gradual magnitude pruning (Zhu & Gupta 2017, cubic schedule) during the same ``recovery_steps`` of
  training, with :class:`irprune.pruning.GradualPruner` (updates at ``start_frac .. end_frac`` of the steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..errors import ConfigError
from ..pruning import (GMPConfig, GradualPruner, Mask, PruningLog, current_mask, fold, pqi_global,
                       prunable_parameters, prune_oneshot)
from ..pruning.prunable import effective_named_tensors
from ..pruning.sparsity import check_sparsity
from ..registry import Registry
from .config import DSIPruneConfig, DSITrainConfig
from .data import TrainExamples
from .model import DSIModel
from .train import DSITrainResult, train_dsi


def dsi_prunable(t5: nn.Module, include_embeddings: bool = False) -> dict[str, nn.Parameter]:
    """The T5 weight matrices that are pruned: every ``nn.Linear`` (attention q/k/v/o, feed-forward), and the
    tied embedding / output matrix (``shared.weight``) only with ``include_embeddings``.  An untied ``lm_head``
    (pretrained T5 v1.1) counts as the embedding matrix."""
    kinds = ("linear", "embedding") if include_embeddings else ("linear",)
    excl = () if include_embeddings else ("lm_head.weight",)
    return prunable_parameters(t5, include=kinds, exclude_names=excl)


def sparsity_by_prefix(t5: nn.Module, prefixes: tuple[str, ...] = ("encoder.", "decoder."),
                       names: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Fraction of zero weights among the prunable tensors (``names``; default :func:`dsi_prunable` with
    embeddings) under each prefix, as the forward pass sees them, plus ``all``; keys are the prefixes without
    the dot."""
    names = dsi_prunable(t5, include_embeddings=True) if names is None else names
    zeros = {p: 0 for p in prefixes}
    totals = {p: 0 for p in prefixes}
    z_all = n_all = 0
    with torch.no_grad():
        for name, t in effective_named_tensors(t5):
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


def tensor_sparsity(t5: nn.Module, names: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per prunable tensor: ``name``, ``numel``, ``zeros`` and ``sparsity`` of the weights the forward pass sees."""
    rows = []
    with torch.no_grad():
        for name, t in effective_named_tensors(t5):
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


@dataclass
class _Job:
    model: DSIModel
    sparsity: float
    prunable: dict[str, nn.Parameter]
    ex: TrainExamples
    train_cfg: DSITrainConfig
    cfg: DSIPruneConfig
    train_kw: dict[str, Any]
    pruning_log: PruningLog | None

    def recover(self, **kw: Any) -> DSITrainResult | None:
        if not self.cfg.recovery_steps:
            return None
        return train_dsi(self.model, self.ex, self.train_cfg, lr=self.cfg.recovery_lr, steps=self.cfg.recovery_steps,
                         **self.train_kw, **kw)


Procedure = Callable[[_Job], DSITrainResult | None]
DSI_METHODS: Registry[Procedure] = Registry("DSI pruning method")


@DSI_METHODS.register("magnitude")
def _magnitude(job: _Job) -> DSITrainResult | None:
    """One-shot L1 magnitude pruning to the target, then recovery training with the masks fixed."""
    prune_oneshot(job.model.t5, "magnitude", job.sparsity, scope=job.cfg.scope, prunable=job.prunable,
                  log=job.pruning_log)
    return job.recover()


def gmp_schedule(cfg: DSIPruneConfig) -> tuple[int, int, int]:
    """(first update step, last update step, steps between updates) of GMP within ``recovery_steps``."""
    steps = cfg.recovery_steps
    start = int(cfg.gmp_start_frac * steps)
    end = max(start + 1, int(cfg.gmp_end_frac * steps))
    freq = max(1, (end - start) // cfg.gmp_updates)
    return start, start + freq * cfg.gmp_updates, freq


@DSI_METHODS.register("gmp")
def _gmp(job: _Job) -> DSITrainResult | None:
    """Gradual magnitude pruning (cubic schedule) while training; the checkpoint rule only sees final masks."""
    start, end, freq = gmp_schedule(job.cfg)
    if job.cfg.recovery_steps < max(end, 1):
        raise ConfigError(f"params.yaml: dsi.prune.recovery_steps = {job.cfg.recovery_steps} is too few for GMP's "
                          f"schedule (last mask update at step {end}); raise it or lower dsi.prune.gmp_end_frac")
    pruner = GradualPruner(job.model.t5, GMPConfig(final_sparsity=job.sparsity, start_step=start, end_step=end,
                                                   frequency=freq, scope=job.cfg.scope),
                           prunable=job.prunable, log=job.pruning_log)
    pruner.step(0)
    return job.recover(after_step=pruner.step, select_from=end)


def prune_recover(model: DSIModel, sparsity: float, ex: TrainExamples, train_cfg: DSITrainConfig,
                  cfg: DSIPruneConfig = DSIPruneConfig(), *, method: str = "magnitude", dev: Any = None,
                  beam_size: int = 10, relevance_level: int = 1, keep_masks: bool = False, log: Any = print,
                  pruning_log: PruningLog | None = None) -> PruneResult:
    """Prune ``model`` in place to ``sparsity`` with ``method`` (:data:`DSI_METHODS`, ``cfg.scope``), training
    ``cfg.recovery_steps`` steps at ``cfg.recovery_lr`` (masks fixed, or GMP's schedule), then fold the masks into
    plain zero weights (unless ``keep_masks``).  Checkpoint selection during recovery follows
    ``train_cfg.selection`` when ``dev`` is given (``cfg.selection = "train"``), else the final weights.
    Mask updates are recorded in ``pruning_log``; a last entry records the recovered weights."""
    proc = DSI_METHODS.get(method)
    check_sparsity(sparsity)
    prunable = dsi_prunable(model.t5, cfg.include_embeddings)
    job = _Job(model, float(sparsity), prunable, ex, train_cfg, cfg,
               {"dev": dev, "beam_size": beam_size, "relevance_level": relevance_level, "log": log}, pruning_log)
    rec = proc(job)
    installed = current_mask(model.t5)
    mask = Mask({n: installed[n] for n in prunable})
    pqi = float(pqi_global(model.t5, mask))
    if pruning_log is not None:
        pruning_log.record(model.t5, mask, method=method, step=cfg.recovery_steps, target_sparsity=float(sparsity))
    if not keep_masks:
        fold(model.t5)
    return PruneResult(mask=mask, sparsity=sparsity_by_prefix(model.t5, names=prunable), recovery=rec,
                       method=method, pqi=pqi, tensors=tensor_sparsity(model.t5, prunable))


__all__ = ["dsi_prunable", "sparsity_by_prefix", "tensor_sparsity", "prune_recover", "PruneResult", "DSI_METHODS",
           "gmp_schedule"]
