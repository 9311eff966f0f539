"""Multiply-accumulate (MAC) counts per example, dense and under sparse execution, for the task models.

The FLOPs of a results row are ``2 x MACs`` (:attr:`MacCount.flops_dense`, :attr:`MacCount.flops_sparse`), the
convention of :mod:`irprune.costs.flops` and of the row's ``flops_*`` columns (:mod:`irprune.cells.schema`).
"FLOP sparsity" (as in the GraSP/SynFlow literature's FLOP-reduction plots) is ``1 - MACs_sparse / MACs_dense``:
the fraction of multiply-adds a sparse kernel skips because a weight is zero.  Counting rules (weights only;
bias adds, norms, softmax and activations are not counted, as in Synaptic-Flow's ``Utils/metrics.py``):

* ``nn.Linear`` on ``n`` tokens: dense ``n * in * out``, sparse ``n * nnz(W)``.
* ``nn.Conv1d`` / ``nn.Conv2d`` with ``P`` output positions (``out_h * out_w`` per example): dense ``P * |W|``
  = ``out_h * out_w * out_c * (in_c / groups) * kh * kw``, sparse ``P * nnz(W)`` (the linear rule with one
  "token" per output position; padding positions are counted as multiply-adds, as in Synaptic-Flow).
* ``nn.Embedding`` / ``nn.EmbeddingBag``: 0 (a lookup copies rows, it multiplies nothing; the bag's sum of rows is
  an add per element, not counted like the other adds), as in :mod:`irprune.costs.flops`.
* ``nn.MultiheadAttention`` with query length ``Lq``, key length ``Lk``, width ``d``: projections
  ``Lq*|W_q| + Lk*|W_k| + Lk*|W_v| + Lq*|W_o|`` (``|W|`` = numel dense, nnz sparse) plus the two
  activation products ``QKᵀ`` and ``AV``, ``2 * Lq * Lk * d`` in both counts (weight sparsity cannot skip them).

Counts come from forward hooks on one representative example (batch of 1), so they follow the model's real
structure (e.g. the decoder's cross-attention).  The model runs in training mode during counting so PyTorch's
fused inference fast path (which bypasses the attention module hooks) is not taken; dropout does not change a count.
Batch-norm layers stay in eval mode while counting, so their running statistics are left untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MacCount:
    dense: float
    sparse: float

    @property
    def flop_sparsity(self) -> float:
        """Fraction of dense multiply-adds removed by sparse execution."""
        return 1.0 - self.sparse / self.dense if self.dense else 0.0

    @property
    def flops_dense(self) -> float:
        """FLOPs of dense execution: 2 x MACs (a multiply and an add)."""
        return 2.0 * self.dense

    @property
    def flops_sparse(self) -> float:
        """FLOPs of sparse execution: 2 x MACs of the non-zero weights."""
        return 2.0 * self.sparse


def _nnz(t: torch.Tensor) -> int:
    return int(torch.count_nonzero(t.detach()))


def _seq(x: torch.Tensor, batch_first: bool) -> int:
    """Sequence length of an unbatched [L, d] or batched attention input."""
    if x.dim() == 2:
        return x.shape[0]
    return x.shape[1] if batch_first else x.shape[0]


def count_macs(model: nn.Module, run: Callable[[nn.Module], object]) -> MacCount:
    """MACs of ``run(model)`` (one example) under the counting rules of this module."""
    acc = {"dense": 0.0, "sparse": 0.0}

    def add(dense: float, sparse: float) -> None:
        acc["dense"] += dense
        acc["sparse"] += sparse

    def linear_hook(m: nn.Linear, args: tuple, out: torch.Tensor) -> None:
        n = args[0].numel() // m.in_features
        add(n * m.weight.numel(), n * _nnz(m.weight))

    def conv_hook(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        positions = out.numel() // m.out_channels  # out_h * out_w (times the batch, 1 here)
        add(positions * m.weight.numel(), positions * _nnz(m.weight))

    def mha_hook(m: nn.MultiheadAttention, args: tuple, kwargs: dict, out: object) -> None:
        q = args[0] if args else kwargs["query"]
        k = args[1] if len(args) > 1 else kwargs["key"]
        if m.in_proj_weight is None:
            raise NotImplementedError("count_macs handles MultiheadAttention with a packed in_proj_weight only")
        lq, lk, d = _seq(q, m.batch_first), _seq(k, m.batch_first), m.embed_dim
        w = m.in_proj_weight
        wq, wk, wv = w[:d], w[d: 2 * d], w[2 * d:]
        wo = m.out_proj.weight
        attn = 2 * lq * lk * d
        add(lq * wq.numel() + lk * wk.numel() + lk * wv.numel() + lq * wo.numel() + attn,
            lq * _nnz(wq) + lk * _nnz(wk) + lk * _nnz(wv) + lq * _nnz(wo) + attn)

    handles = []
    # out_proj is called functionally inside MultiheadAttention (no hook fires); it is counted in mha_hook.
    inside_mha = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            handles.append(m.register_forward_hook(mha_hook, with_kwargs=True))
        elif isinstance(m, nn.Linear) and id(m) not in inside_mha:
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
            handles.append(m.register_forward_hook(conv_hook))
    was_training = model.training
    try:
        model.train()
        for m in model.modules():  # batch norm on its running statistics: counting must not update them
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        with torch.no_grad():
            run(model)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return MacCount(acc["dense"], acc["sparse"])


__all__ = ["MacCount", "count_macs"]
