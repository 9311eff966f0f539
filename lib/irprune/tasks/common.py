"""Shared pieces of the cross-task study (classification, translation): training loop, seeding, batching.

The loop is deliberately small: AdamW (Loshchilov & Hutter, 2019) with linear warmup, global-norm gradient
clipping, bf16 autocast on CUDA only (:func:`irprune.models.device.autocast`), and an ``after_step`` hook called
with the global step *after* each optimizer step (where GMP's :class:`~irprune.pruning.GradualPruner` updates
masks).  Installed mask parametrizations keep pruned weights exactly zero throughout.
"""

from __future__ import annotations

import math
import random as _random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import nn

from ..config import frozen, param
from ..models.device import autocast

T = TypeVar("T")


@frozen
class TaskTrainConfig:
    """How a task model is trained (one config per task; the pipeline's ``tasks.<task>.train`` section)."""

    epochs: int = param(5, ge=1, doc="passes over the training set (dense training and pruned-at-init runs)")
    finetune_epochs: int = param(2, ge=1, doc="passes when fine-tuning from the dense model (GMP, prune_at=dense)")
    batch_size: int = param(64, ge=1, doc="examples per optimizer step")
    lr: float = param(1e-3, gt=0, doc="AdamW peak learning rate")
    weight_decay: float = param(0.0, ge=0, doc="AdamW decoupled weight decay")
    warmup_frac: float = param(0.05, ge=0, lt=1, doc="linear warmup over this fraction of the steps, then constant")
    grad_clip: float = param(1.0, ge=0, doc="clip the global gradient norm (0 = off)")
    max_steps: int | None = param(None, ge=1, doc="stop after this many optimizer steps (null = all epochs)")
    device: Literal["auto", "cpu", "cuda"] = param("auto", doc="auto = CUDA when present, else CPU")


@dataclass
class TrainHistory:
    """What :func:`fit` did: mean loss per epoch, steps, and wall time."""

    epoch_loss: list[float] = field(default_factory=list)
    steps: int = 0
    wall_time_s: float = 0.0


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a fresh ``torch.Generator`` seeded with ``seed`` for shuffling."""
    _random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def minibatches(items: Sequence[T], batch_size: int, generator: torch.Generator | None = None) -> list[list[T]]:
    """``items`` cut into batches of ``batch_size``; shuffled by ``generator`` when given (else in order)."""
    order = torch.randperm(len(items), generator=generator).tolist() if generator is not None \
        else list(range(len(items)))
    return [[items[i] for i in order[s: s + batch_size]] for s in range(0, len(order), batch_size)]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def fit(model: nn.Module, batches: Callable[[int], Iterable[Any]], loss_fn: Callable[[nn.Module, Any], torch.Tensor],
        cfg: TaskTrainConfig, device: torch.device, *, epochs: int | None = None,
        after_step: Callable[[int], Any] | None = None) -> TrainHistory:
    """Train ``model`` in place: ``batches(epoch)`` yields (already collated, on-device) batches for an epoch and
    ``loss_fn(model, batch)`` returns the scalar loss.  ``after_step(global_step)`` runs after every
    optimizer step (global steps count from 1)."""
    epochs = cfg.epochs if epochs is None else epochs
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    first = list(batches(0))
    total = len(first) * epochs if cfg.max_steps is None else min(cfg.max_steps, len(first) * epochs)
    warm = max(1, int(cfg.warmup_frac * total)) if cfg.warmup_frac > 0 else 0
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0)
    hist = TrainHistory()
    t0 = time.perf_counter()
    model.train()
    from ..progress import Progress

    bar = Progress("task training", total=epochs, unit="epoch", every_s=0.0)
    for epoch in range(epochs):
        losses: list[float] = []
        for batch in (first if epoch == 0 else batches(epoch)):
            if hist.steps >= total:
                break
            opt.zero_grad(set_to_none=True)
            with autocast(device):
                loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()} at step {hist.steps + 1}; lower "
                                         "the learning rate (tasks.<task>.train.lr) or enable grad_clip")
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sched.step()
            hist.steps += 1
            losses.append(float(loss.detach()))
            if after_step is not None:
                after_step(hist.steps)
        hist.epoch_loss.append(float(np.mean(losses)) if losses else float("nan"))
        bar.step(epoch + 1, loss=hist.epoch_loss[-1], steps=hist.steps)
        if hist.steps >= total:
            break
    model.eval()
    hist.wall_time_s = time.perf_counter() - t0
    return hist


__all__ = ["TaskTrainConfig", "TrainHistory", "seed_everything", "minibatches", "steps_per_epoch", "fit"]
