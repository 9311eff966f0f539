"""Measured latency per query: the wall-clock time to score one query's ``k`` candidates.

Method: every query's ``k`` (query, document) pairs are collated once, up front, into one batch on the device
(tokenisation is excluded: it does not depend on sparsity); after ``warmup`` untimed calls, each of ``repeats``
passes over the queries times every call with ``time.perf_counter`` under ``torch.inference_mode`` with a fixed
number of intra-op threads (restored afterwards), calling ``torch.cuda.synchronize`` before reading the clock on
CUDA.  Reported: median and 90th percentile (numpy's linear interpolation) in milliseconds per query.

Honest note: a pruned model whose zeros sit in dense tensors runs the same dense kernels, so unstructured
sparsity gives **no** speed-up by itself.  :func:`sparsify_linears` swaps ``nn.Linear`` layers for
:class:`CSRLinear` (weights as ``torch.sparse_csr``) to measure what a general sparse kernel buys; on CPU at
90% sparsity it is typically no faster than dense GEMM (sparse kernels need far higher sparsity or structure:
Gale et al. 2020, "Sparse GPU Kernels for Deep Learning"; Hoefler et al. 2021, "Sparsity in Deep
Learning").  Convolutions and ``nn.MultiheadAttention`` projections are left dense.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..config import frozen, param


@frozen
class LatencyConfig:
    """How latency is measured (one timed call = one query's ``k`` candidates in one batch)."""

    k: int = param(100, ge=1, doc="candidates reranked per query")
    n_queries: int = param(10, ge=1, doc="distinct queries timed")
    warmup: int = param(2, ge=0, doc="untimed calls first")
    repeats: int = param(3, ge=1, doc="timed passes over the queries")
    threads: int = param(1, ge=1, doc="torch intra-op threads, fixed so runs compare")
    device: Literal["cpu", "cuda", "auto"] = param("cpu", doc="where to time (CPU by default)")
    sparse_kernels: bool = param(True, doc="also time with Linear weights as torch sparse CSR")


@dataclasses.dataclass(frozen=True)
class LatencyReport:
    """Milliseconds per query over ``n`` timed calls."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    n: int
    threads: int
    device: str

    def to_dict(self, prefix: str = "latency") -> dict[str, Any]:
        return {f"{prefix}_median_ms": self.median_ms, f"{prefix}_p90_ms": self.p90_ms,
                f"{prefix}_mean_ms": self.mean_ms, f"{prefix}_n": self.n, "latency_threads": self.threads,
                "latency_device": self.device}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s ``model name``, else ``platform.processor()``) and its logical
    cores, e.g. ``"Intel(R) Xeon(R) Platinum 8480+ (16 cores)"``: what the paper's latency captions name."""
    import os
    import platform

    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            name = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "")
    except OSError:
        pass
    return f"{name or platform.processor() or 'unknown CPU'} ({os.cpu_count() or 0} cores)"


def measure_latency(score_fn: Callable[[Any], Any], batches: Sequence[Any], warmup: int = 2, repeats: int = 3,
                    threads: int = 1, device: torch.device | str = "cpu") -> LatencyReport:
    """Time ``score_fn(batch)`` for every batch (one query each), ``repeats`` times, after ``warmup`` calls.

    ``batches`` must already be on ``device``; on CUDA bf16 autocast is used as in reranking
    (:func:`irprune.models.autocast`).
    """
    from ..models.device import autocast

    if not batches:
        raise ValueError("measure_latency: no batches to time")
    if repeats < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"measure_latency: need repeats >= 1, warmup >= 0, threads >= 1; got {repeats}, {warmup}, "
                         f"{threads}")
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    times: list[float] = []
    try:
        with torch.inference_mode(), autocast(dev):
            for i in range(warmup):
                score_fn(batches[i % len(batches)])
            sync()
            for _ in range(repeats):
                for b in batches:
                    t0 = time.perf_counter()
                    score_fn(b)
                    sync()
                    times.append((time.perf_counter() - t0) * 1000.0)
    finally:
        torch.set_num_threads(before)
    arr = np.asarray(times)
    return LatencyReport(median_ms=float(np.median(arr)), p90_ms=float(np.percentile(arr, 90)),
                         mean_ms=float(arr.mean()), n=len(times), threads=threads, device=str(dev))


def query_batches(model: nn.Module, queries: Sequence[Sequence[tuple[str, str]]],
                  device: torch.device | str = "cpu") -> list[dict[str, Tensor]]:
    """One collated batch per query (all its candidate pairs, the model's default lengths), on ``device``."""
    from ..models.device import move_batch

    return [move_batch(model.collate(list(pairs)), device) for pairs in queries]


class CSRLinear(nn.Module):
    """``y = x W^T + b`` with ``W`` stored as ``torch.sparse_csr`` (computed as ``(W x^T)^T``)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with warnings.catch_warnings():   # "sparse CSR support is in beta"
            warnings.simplefilter("ignore")
            self.register_buffer("weight_csr", linear.weight.detach().to_sparse_csr())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        x2 = x.reshape(-1, self.in_features).to(self.weight_csr.dtype)   # autocast may hand in bf16
        y = (self.weight_csr @ x2.t()).t()                           # [rows, out]
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def folded_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with its masks folded; ``model`` itself is untouched (its text state is shared).
    :func:`irprune.pruning.fold` gives each module its own class first, so folding a copy leaves the original
    masked."""
    from ..pruning.apply import fold

    text = getattr(model, "text", None)
    return fold(copy.deepcopy(model, memo={id(text): text} if text is not None else {}))


def sparsify_linears(model: nn.Module, min_sparsity: float = 0.0) -> tuple[nn.Module, int]:
    """A folded deep copy of ``model`` whose ``nn.Linear`` layers (with weight sparsity >= ``min_sparsity``) are
    :class:`CSRLinear`; returns ``(copy, number of layers swapped)``.  Out-projections of
    ``nn.MultiheadAttention`` are skipped (it reads their weight directly)."""
    clone = folded_copy(model)
    skip = {id(m.out_proj) for m in clone.modules() if isinstance(m, nn.MultiheadAttention)}
    swapped = 0
    for parent in list(clone.modules()):
        for cname, child in list(parent.named_children()):
            if type(child) is not nn.Linear or id(child) in skip:
                continue
            w = child.weight
            if 1.0 - int(torch.count_nonzero(w)) / w.numel() < min_sparsity:
                continue
            setattr(parent, cname, CSRLinear(child))
            swapped += 1
    return clone.eval(), swapped


__all__ = ["CSRLinear", "LatencyConfig", "LatencyReport", "cpu_model", "folded_copy", "measure_latency",
           "query_batches", "sparsify_linears"]
