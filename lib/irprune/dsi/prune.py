"""Train-prune-recover for DSI (the seed's protocol): one-shot unstructured L1 magnitude pruning (Han et al.
2015) of the T5 weight matrices with :func:`irprune.pruning.prune_oneshot`, then recovery training with the masks
fixed (the mask parametrization keeps pruned weights exactly zero), and the sparsity of encoder and decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from ..pruning import Mask, fold, prunable_parameters, prune_oneshot
from ..pruning.prunable import effective_named_tensors
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


@dataclass
class PruneResult:
    mask: Mask
    sparsity: dict[str, float]       # after recovery: encoder / decoder / all (prunable tensors)
    recovery: DSITrainResult | None


def prune_recover(model: DSIModel, sparsity: float, ex: TrainExamples, train_cfg: DSITrainConfig,
                  cfg: DSIPruneConfig = DSIPruneConfig(), *, dev: Any = None, beam_size: int = 10,
                  relevance_level: int = 1, keep_masks: bool = False, log: Any = print) -> PruneResult:
    """Prune ``model`` in place to ``sparsity`` (magnitude, ``cfg.scope``), recover for ``cfg.recovery_steps``
    steps at ``cfg.recovery_lr`` with the masks fixed, then fold the masks into plain zero weights (unless
    ``keep_masks``).  Checkpoint selection during recovery follows ``train_cfg.selection``."""
    prunable = dsi_prunable(model.t5, cfg.include_embeddings)
    mask = prune_oneshot(model.t5, "magnitude", sparsity, scope=cfg.scope, prunable=prunable)
    rec = None
    if cfg.recovery_steps:
        rec = train_dsi(model, ex, train_cfg, dev=dev, beam_size=beam_size, relevance_level=relevance_level,
                        lr=cfg.recovery_lr, steps=cfg.recovery_steps, log=log)
    if not keep_masks:
        fold(model.t5)
    return PruneResult(mask=mask, sparsity=sparsity_by_prefix(model.t5, names=prunable), recovery=rec)


__all__ = ["dsi_prunable", "sparsity_by_prefix", "prune_recover", "PruneResult"]
