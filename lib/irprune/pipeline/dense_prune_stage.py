"""Dense pruning stage (``dense_prune@<method>-<sparsity>-<seed>``): one cell of the bi-encoder's pruning grid.

Loads the ``dense`` stage's fine-tuned query encoder and document vectors (``models/dense``), prunes the query
encoder with one method of :data:`irprune.dense.prune.QUERY_ENCODER_METHODS` to one target sparsity through the one
cell layer (:func:`irprune.pruning.driver.run_method` on :class:`irprune.dense.prune.QueryEncoderTask`) while
recovering with the stage's contrastive fine-tuning (``dense.prune``; BM25 negatives from ``runs/bm25/train.trec``),
searches the test queries over the unchanged flat index and writes into ``runs/dense_prune/<method>-<sparsity>-<seed>/``:
``cell.test.json`` (task ``dense``; size columns are the index's, unchanged), ``test.trec``, ``per_query.json``
and ``metrics.json`` (metrics, achieved sparsity, FLOPs of encoding one query, latency, timings).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..config import frozen, param
from ..data.store import read_dataset
from ..dense.config import DenseConfig
from ..dense import index as ix
from ..dense.encoder import BiEncoder
from ..dense.prune import FAMILY, QUERY_ENCODER_METHODS, encoder_prunable, prune_query_encoder
from ..dense.train import training_pairs
from ..evaluation import EvalConfig, evaluate
from ..io import atomic_write_json, read_json
from ..pruning import nonzero_params
from ..pruning.driver import check_cell
from ..pruning.sparsity import sparsity_columns
from ..cells.schema import make_cell, write_cell
from ..runs import read_trec_run, write_trec_run
from .dense_stage import (DOC_IDS, DOC_VECTORS, MODEL_DIR, PRIMARY, QUERY_ENCODER, TASK, Scorer, dev_metric,
                          encode_latency_ms, load_encoder, retrieve, set_threads)

RUN_DIR = paths.RUNS / "dense_prune"


@frozen
class DensePruneStage:
    """Config of the ``dense_prune`` stage (the grid's axes come from ``dense_grid`` by DVC templating)."""

    dense: DenseConfig = param(DenseConfig)
    evaluation: EvalConfig = param(EvalConfig)


def cell_dir(method: str, sparsity: float, seed: int) -> Path:
    return RUN_DIR / f"{method}-{sparsity}-{seed}"


def query_flops(model: Any, tokens: int) -> tuple[float, float]:
    """FLOPs (2 x multiply-adds) of encoding one query of ``tokens`` tokens: dense, and skipping zero weights."""
    import torch

    from ..costs.flops import count_flops

    batch = (torch.ones(1, tokens, dtype=torch.long), torch.ones(1, tokens, dtype=torch.long))  # ids, mask
    rep = count_flops(model, batch, strict=False)
    return float(rep.total_dense), float(rep.total_sparse)


@dataclass
class DensePruneResult:
    metrics: dict[str, Any]

    def table(self) -> Any:
        import pandas as pd

        keys = ("method", "target_sparsity", "achieved_sparsity", "mrr@10", "ndcg@10", "dev_mrr@10",
                "nonzero_params", "flops_sparse", "latency_ms")
        return pd.DataFrame([{k: self.metrics.get(k) for k in keys}])


def load_trained_encoder(c: Any, model_dir: Path = MODEL_DIR) -> Any:
    """The checkpoint with the ``dense`` stage's fine-tuned query encoder from ``model_dir`` when it saved one
    (``dense.train.steps > 0``), the query side split from the document side."""
    enc = load_encoder(c)
    if (model_dir / QUERY_ENCODER.name).is_dir():
        from transformers import AutoModel

        enc.query = AutoModel.from_pretrained(str(model_dir / QUERY_ENCODER.name), local_files_only=True).eval()
    return enc.split()


def run(cfg: DensePruneStage, method: str, sparsity: float, seed: int, dataset_dir: Path = paths.DATASET,
        model_dir: Path = MODEL_DIR, bm25_train_run: Path = paths.bm25_run("train"),
        out_dir: Path | None = None) -> DensePruneResult:
    t0 = time.perf_counter()
    c = cfg.dense
    check_cell(method, sparsity, QUERY_ENCODER_METHODS, FAMILY)      # before any work
    set_threads(c.threads)
    out_dir = cell_dir(method, sparsity, seed) if out_dir is None else out_dir
    ds = read_dataset(dataset_dir)
    doc_ids = read_json(model_dir / DOC_IDS.name)
    docs = np.load(model_dir / DOC_VECTORS.name)
    row = {d: i for i, d in enumerate(doc_ids)}
    enc = load_trained_encoder(c, model_dir)
    tr = ds.split("train")
    pairs = training_pairs(tr.queries, tr.qrels, read_trec_run(bm25_train_run) if c.prune.recovery_negatives else None,
                           row, c.train.bm25_depth)
    flat = Scorer(docs, index=ix.flat_index(docs))
    dev_mrr = dev_metric(ds, doc_ids, c, cfg.evaluation)
    test = ds.split("test")

    def evaluate_encoder(e: BiEncoder) -> dict[str, Any]:
        """Dev MRR@10 and the test queries retrieved over the flat index and evaluated."""
        r = retrieve(e, flat, test.queries, doc_ids, c)
        ev = evaluate(test.qrels, r, cfg.evaluation)
        return {"metrics": ev.aggregate, "per_query": ev.per_query, "run": r, "dev_mrr@10": dev_mrr(e, flat)}

    pruned = prune_query_encoder(enc, method, sparsity, pairs, docs, c.prune, c.train, seed,
                                 query_max_tokens=c.query_max_tokens, evaluator=evaluate_encoder)
    achieved = pruned.achieved
    metrics: dict[str, Any] = {"method": method, "target_sparsity": sparsity, "achieved_sparsity": achieved,
                               "seed": seed, "recovery": pruned.recovery.as_dict()}
    evaluated = pruned.task.evaluate()
    ev_metrics, per_query = evaluated["metrics"], evaluated["per_query"]
    metrics["dev_mrr@10"] = evaluated["dev_mrr@10"]
    write_trec_run(evaluated["run"], out_dir / "test.trec", tag=f"dense-{method}-{sparsity}")
    metrics.update(ev_metrics)
    names = encoder_prunable(enc.query, c.prune.include_embeddings)
    total = sum(p.numel() for p in enc.query.parameters())
    fd, fs = query_flops(enc.query, 8)
    lat_texts = [test.queries[q] for q in sorted(test.queries)][: c.latency.n_queries]
    enc_ms = encode_latency_ms(enc, lat_texts, c)
    metrics.update(total_params=total, prunable_params=sum(p.numel() for p in names.values()),
                   nonzero_params=nonzero_params(enc.query), flops_dense=fd, flops_sparse=fs, latency_ms=enc_ms,
                   total_s=time.perf_counter() - t0)
    atomic_write_json(out_dir / "per_query.json", {"test": per_query})
    write_cell(out_dir / "cell.test.json", make_cell(
        task=TASK, model="biencoder", method=method, target_sparsity=float(sparsity), achieved_sparsity=achieved,
        seed=seed, split="test", primary_metric=PRIMARY,
        **{m.replace("@", "_at_"): float(ev_metrics[m]) for m in ("mrr@10", "ndcg@10", "map", "recall@10",
                                                                  "recall@100") if m in ev_metrics},
        **sparsity_columns(enc.query, names), nonzero_params=metrics["nonzero_params"],
        flops_dense=fd, flops_sparse=fs, size_dense_bytes=int(docs.nbytes), size_sparse_bytes=int(docs.nbytes),
        latency_ms_per_query=enc_ms, wall_time_s=time.perf_counter() - t0,
        per_query_path=str(out_dir / "per_query.json")))
    atomic_write_json(out_dir / "metrics.json", metrics)
    return DensePruneResult(metrics)


__all__ = ["DensePruneStage", "DensePruneResult", "RUN_DIR", "cell_dir", "query_flops", "run"]
