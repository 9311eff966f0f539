"""Pruning the bi-encoder's query encoder with the study's kernels; the document vectors (the index) stay those
of the dense document encoder, so a pruned query encoder changes the query side only.

Methods (registry :data:`DENSE_METHODS`):

* ``magnitude`` -- one-shot unstructured magnitude pruning (:func:`irprune.pruning.prune_oneshot`) of the
  encoder's weight matrices, then ``recovery_steps`` of the contrastive fine-tuning of :mod:`irprune.dense.train`
  with the masks fixed (the parametrization keeps pruned weights at zero);
* ``gmp`` -- gradual magnitude pruning (Zhu & Gupta 2017, cubic schedule; :class:`irprune.pruning.GradualPruner`)
  during the same recovery steps, the target reached at ``gmp_end_frac`` of them.

Prunable: every ``nn.Linear`` of the encoder (attention q/k/v/o, feed-forward), never the pooler (mean pooling
does not use it), the word embeddings only with ``include_embeddings``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from torch import nn

from ..pruning import GMPConfig, GradualPruner, Mask, fold, prunable_parameters, prune_oneshot
from ..pruning.sparsity import check_sparsity
from ..registry import Registry
from .config import DensePruneConfig, DenseTrainConfig
from .encoder import BiEncoder
from .train import FinetuneResult, TrainingPairs, finetune_query_encoder

DENSE_METHODS: Registry[str] = Registry("dense pruning method")
DENSE_METHODS.add("magnitude", "one-shot magnitude, then recovery with masks fixed")
DENSE_METHODS.add("gmp", "gradual magnitude pruning during recovery")


def encoder_prunable(model: nn.Module, include_embeddings: bool = False) -> dict[str, nn.Parameter]:
    """The pruned weight matrices of a BERT encoder: its ``nn.Linear`` weights except the pooler's (and the word
    embeddings with ``include_embeddings``; position and type embeddings never)."""
    kinds = ("linear", "embedding") if include_embeddings else ("linear",)
    return prunable_parameters(model, include=kinds,
                               exclude_names=("pooler.*", "*position_embeddings*", "*token_type_embeddings*"))


def achieved_sparsity(model: nn.Module, names: dict[str, nn.Parameter]) -> float:
    """Fraction of zeros among the prunable weights as the forward pass sees them."""
    from ..pruning.prunable import effective_named_tensors

    z = n = 0
    for name, t in effective_named_tensors(model):
        if name in names:
            z += int(t.numel() - int(t.count_nonzero()))
            n += t.numel()
    return z / n if n else 0.0


def prune_query_encoder(enc: BiEncoder, method: str, sparsity: float, pairs: TrainingPairs, doc_vecs: Any,
                        cfg: DensePruneConfig, train: DenseTrainConfig, seed: int, *, query_max_tokens: int,
                        evaluate_dev: Callable[[BiEncoder], float] | None = None) -> tuple[FinetuneResult, float]:
    """Prune ``enc.query`` to ``sparsity`` with ``method`` and recover; returns the recovery record and the
    achieved sparsity.  The masks are folded into plain weights at the end (the encoder saves as a plain one)."""
    DENSE_METHODS.get(method)
    check_sparsity(sparsity)
    enc.split()
    model = enc.query
    names = encoder_prunable(model, cfg.include_embeddings)
    rec = dataclasses.replace(train, steps=cfg.recovery_steps, lr=cfg.recovery_lr, seed=seed, selection="last",
                              eval_every=max(1, cfg.recovery_steps))
    after: Callable[[int], None] | None = None
    if method == "magnitude":
        prune_oneshot(model, "magnitude", sparsity, scope=cfg.scope, prunable=names)
    else:
        end = max(1, int(round(cfg.gmp_end_frac * cfg.recovery_steps)))
        freq = max(1, end // cfg.gmp_updates)
        gmp = GradualPruner(model, GMPConfig(initial_sparsity=0.0, sparsity=sparsity, start_step=0,
                                             end_step=freq * cfg.gmp_updates, frequency=freq, scope=cfg.scope),
                            prunable=names)
        gmp.step(0)
        after = gmp.step
        if cfg.recovery_steps < freq * cfg.gmp_updates:     # too few steps for the schedule: prune at once
            prune_oneshot(model, "magnitude", sparsity, scope=cfg.scope, prunable=names)
    res = finetune_query_encoder(enc, doc_vecs, pairs, rec, evaluate_dev, query_max_tokens=query_max_tokens,
                                 after_step=after, label=f"dense prune {method} {sparsity}")
    achieved = achieved_sparsity(model, names)
    fold(model)
    return res, achieved


__all__ = ["DENSE_METHODS", "achieved_sparsity", "encoder_prunable", "prune_query_encoder"]
