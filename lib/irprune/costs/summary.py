"""One cost row per (pruned) ranker: non-zero parameters, FLOPs per pair and per query (dense / sparse
execution), bytes on disk (dense / compressed sparse) and measured latency per query (dense kernels, and CSR
Linear kernels when asked).  The keys are flat so the row drops into the tidy results table."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from torch import nn

from ..config import frozen, param
from .flops import count_flops
from .latency import LatencyConfig, measure_latency, query_batches, sparsify_linears
from .size import size_on_disk

Pair = tuple[str, str]


@frozen
class CostsConfig:
    """What the cost measurements use.  FLOPs are counted on one pair padded to exactly ``query_len`` /
    ``doc_len`` tokens (null = the model's configured maxima), i.e. the cost of a full-length pair."""

    query_len: Optional[int] = param(None, ge=1, doc="query tokens for the FLOPs count; null = model max_query_len")
    doc_len: Optional[int] = param(None, ge=1, doc="document tokens for the FLOPs count; null = model max_doc_len")
    latency: LatencyConfig = param(LatencyConfig)
    measure_latency: bool = param(True, doc="time the model (false: FLOPs and size only)")


def filler_pairs(n: int, query_len: int, doc_len: int) -> list[Pair]:
    """``n`` identical pairs of ``query_len`` / ``doc_len`` one-character words: each word is one token for the
    word vocabularies and for WordPiece (a character or ``[UNK]``), so collate pads to exactly those lengths."""
    return [(" ".join(["x"] * query_len), " ".join(["y"] * doc_len))] * n


def measure_costs(model: nn.Module, cfg: CostsConfig | None = None,
                  queries: Sequence[Sequence[Pair]] | None = None) -> dict[str, Any]:
    """The flat cost row of ``model`` (a :class:`~irprune.models.Ranker`, masked or folded).

    ``queries``: candidate pairs per query for the latency measurement (the first ``latency.n_queries``
    queries, first ``latency.k`` pairs each); default: full-length filler pairs.  The model is timed on
    ``latency.device`` and moved back to its device afterwards.
    """
    from ..models.device import move_batch, select_device
    from ..pruning.prunable import nonzero_params

    cfg = cfg or CostsConfig()
    ql = cfg.query_len or model.cfg.max_query_len
    dl = cfg.doc_len or model.cfg.max_doc_len
    home = next(model.parameters()).device
    flops = count_flops(model, move_batch(model.collate(filler_pairs(1, ql, dl), ql, dl), home))
    size = size_on_disk(model)
    lat = cfg.latency
    row: dict[str, Any] = {
        "nonzero_params": nonzero_params(model), "total_params": sum(p.numel() for p in model.parameters()),
        "flops_dense": flops.total_dense, "flops_sparse": flops.total_sparse,
        "flops_activation": flops.activation_dense, "flops_query_len": ql, "flops_doc_len": dl,
        "flops_dense_per_query": flops.total_dense * lat.k, "flops_sparse_per_query": flops.total_sparse * lat.k,
        **size.to_dict()}
    if not cfg.measure_latency:
        return row
    if queries is None:
        queries = [filler_pairs(lat.k, ql, dl)] * lat.n_queries
    queries = [list(q)[: lat.k] for q in list(queries)[: lat.n_queries]]
    dev = select_device(lat.device)
    try:
        model.to(dev)
        batches = query_batches(model, queries, dev)
        row.update(measure_latency(model.score, batches, lat.warmup, lat.repeats, lat.threads, dev).to_dict())
        if lat.sparse_kernels:
            csr, swapped = sparsify_linears(model)
            csr.to(dev)
            row.update(measure_latency(csr.score, batches, lat.warmup, lat.repeats, lat.threads,
                                       dev).to_dict("latency_csr"))
            row["csr_linear_layers"] = swapped
    finally:
        model.to(home)
    row["latency_k"] = lat.k
    return row


__all__ = ["CostsConfig", "filler_pairs", "measure_costs"]
