"""One cost row per (pruned) ranker: non-zero parameters, FLOPs per pair and per query (dense / sparse
execution), bytes on disk (dense / compressed sparse) and measured latency per query on each inference engine of
``costs.engines`` (:mod:`irprune.costs.engines`: torch dense, torch CSR, ONNX Runtime, OpenVINO, DeepSparse).
The scalar keys are flat so the row drops into the tidy results table; ``engines`` holds one record per engine
(latency, speed-up over torch fp32, score agreement, or "not installed" / "not measured: <reason>")."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from torch import nn

from ..config import ConfigError, frozen, param
from .engines import ENGINES, flat_columns, measure_engines
from .flops import count_flops
from .latency import LatencyConfig, cpu_model, measure_latency, query_batches, sparsify_linears
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
    engines: tuple[str, ...] = param(("torch", "onnxruntime", "openvino"),
                                     doc="inference engines timed on the CPU (irprune.costs.engines; torch fp32 is "
                                         "always timed as the reference); missing ones are noted, not errors")

    def validate(self) -> None:
        unknown = [e for e in self.engines if e not in ENGINES]
        if unknown:
            raise ConfigError(f"params.yaml: costs.engines: unknown engine(s) {unknown}; known engines: "
                              f"{', '.join(ENGINES.names())}")


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
    engines = ["torch", *(e for e in cfg.engines if e != "torch")]
    if lat.sparse_kernels and "torch-csr" not in engines:
        engines.append("torch-csr")
    cpu_batches = query_batches(model, queries, "cpu")
    records = measure_engines(model, cpu_batches, engines, warmup=lat.warmup, repeats=lat.repeats,
                              threads=lat.threads)
    if dev.type == "cpu":       # the reference engine's timing is the row's latency (one measurement, not two)
        row.update(_legacy(records["torch"], "latency", lat.threads, dev))
        if lat.sparse_kernels and records["torch-csr"]["status"] == "measured":
            row.update(_legacy(records["torch-csr"], "latency_csr", lat.threads, dev))
            row["csr_linear_layers"] = records["torch-csr"]["info"].get("csr_linear_layers")
    else:
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
    row.update(flat_columns(records))          # every engine timed: torch, costs.engines, torch-csr
    row["engines"] = {k: v for k, v in records.items() if k in cfg.engines or k == "torch"}
    row.update(latency_k=lat.k, latency_threads=lat.threads, latency_cpu=cpu_model())   # what timed the engines
    return row


def _legacy(rec: dict[str, Any], prefix: str, threads: int, dev: Any) -> dict[str, Any]:
    """An engine record as the row's ``<prefix>_median_ms / _p90_ms / _mean_ms / _n`` keys."""
    return {f"{prefix}_median_ms": rec["median_ms"], f"{prefix}_p90_ms": rec["p90_ms"],
            f"{prefix}_mean_ms": rec["mean_ms"], f"{prefix}_n": rec["n"], "latency_threads": threads,
            "latency_device": str(dev)}


__all__ = ["CostsConfig", "filler_pairs", "measure_costs"]
