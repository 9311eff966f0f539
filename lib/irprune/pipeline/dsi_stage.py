"""DSI stage: train a dense Differentiable Search Index on the canonical dataset, retrieve for dev and test by
constrained beam search, evaluate, and write the checkpoint, TREC runs, metrics and per-query scores.

Evaluation is on the indexed documents: the qrels are restricted to the subset (:mod:`irprune.dsi.data`), and
BM25 (``bm25`` section) over the same subset is reported beside DSI (``bm25_subset_*``) so the two compare on
equal terms; the full-collection BM25 numbers are in ``metrics/bm25.json``.

Results-table cells (:mod:`irprune.cells.schema`) go to ``metrics/cells/dsi/``: the dense model
(``dense.test.json``) and BM25 over the subset (``bm25.test.json``), both with ``task = "dsi"``, so the report
never sets them beside full-collection numbers without saying so.  ``random_hits@k`` is the expected Hits@k of a
uniformly random ranking of the subset (:func:`random_hits_at_k`), the "above random" reference.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..bm25 import BM25Retriever
from ..config import to_mapping
from ..data.store import read_dataset
from ..dsi.config import DSIStage
from ..dsi.data import build_examples, restrict_qrels, select_documents
from ..dsi.ids import build_ids
from ..dsi.model import build_model, save_dsi
from ..dsi.retrieve import check_beam, hits_at_k, retrieve
from ..dsi.train import train_dsi
from ..evaluation import EvalConfig, evaluate
from ..io import atomic_write_json
from ..models.device import select_device
from ..pruning import nonzero_params
from ..pruning.sparsity import sparsity_columns
from ..cells.schema import RANKING_METRICS, make_cell, write_cell
from ..runs import write_trec_run
from ..dsi.prune import dsi_prunable

CHECKPOINT = Path("models") / "dsi"
RUN_DIR = paths.RUNS / "dsi"
METRICS = paths.METRICS / "dsi.json"
PER_QUERY = RUN_DIR / "per_query.json"
CELL_DIR = paths.CELLS / "dsi"
TASK = "dsi"                     # results-table task of every DSI row: evaluated on the indexed subset only
PRIMARY = "mrr@10"
REQUIRED = ("mrr@10", "map", "recall@10", "recall@100")
HITS = (1, 10)


@dataclass
class DSIStageResult:
    metrics: dict[str, Any]
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    def table(self) -> Any:
        import pandas as pd

        rows = {}
        for prefix, name in (("", "DSI (test)"), ("dev_", "DSI (dev)"), ("bm25_subset_", "BM25 on the subset (test)")):
            rows[name] = {m: self.metrics.get(prefix + m) for m in (*REQUIRED, "hits@1", "hits@10")}
        return pd.DataFrame(rows).T


def eval_config(cfg: EvalConfig) -> EvalConfig:
    """The study's metrics plus the ones DSI always reports (MRR@10, MAP, Recall@10/100)."""
    extra = tuple(m for m in REQUIRED if m not in cfg.metrics)
    return dataclasses.replace(cfg, metrics=cfg.metrics + extra)


def score(qrels: dict, run: dict, ecfg: EvalConfig) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Aggregate and per-query metrics, hits@1/10 included."""
    res = evaluate(qrels, run, ecfg)
    agg: dict[str, float] = dict(res.aggregate)
    per = dict(res.per_query)
    for k in HITS:
        agg[f"hits@{k}"], per[f"hits@{k}"] = hits_at_k(qrels, run, k, ecfg.relevance_level)
    return agg, per


def random_hits_at_k(qrels: dict, n_docs: int, k: int, relevance_level: int) -> float:
    """Expected Hits@k of a uniformly random ranking of ``n_docs`` documents, over the judged queries of ``qrels``
    (the query set of :func:`irprune.dsi.retrieve.hits_at_k`): ``1 - C(n - r, k) / C(n, k)`` for a query with
    ``r`` relevant documents."""
    vals = []
    for judged in qrels.values():
        if not judged:
            continue
        r = sum(1 for lab in judged.values() if lab >= relevance_level)
        k_ = min(k, n_docs)
        vals.append(1.0 - math.comb(n_docs - r, k_) / math.comb(n_docs, k_) if n_docs - r >= k_ else float(r > 0))
    return sum(vals) / len(vals) if vals else 0.0


def ranking_columns(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The results-table ranking metrics (``mrr_at_10`` ...) present in ``metrics`` (keys ``prefix + metric``)."""
    return {m.replace("@", "_at_"): float(metrics[prefix + m]) for m in RANKING_METRICS if prefix + m in metrics}


def run(cfg: DSIStage, dataset_dir: Path = paths.DATASET, checkpoint_dir: Path = CHECKPOINT,
        run_dir: Path = RUN_DIR, metrics_path: Path = METRICS, cell_dir: Path = CELL_DIR) -> DSIStageResult:
    """Train, save, retrieve, evaluate (see the module docstring)."""
    t0 = time.perf_counter()
    c = cfg.dsi
    ds = read_dataset(dataset_dir)
    docs = select_documents(ds, c.n_docs, c.subset_seed)
    sub = {d: ds.corpus[d] for d in docs}
    ids = build_ids(docs, sub, c.ids)
    model = build_model(c.model, list(sub.values()), ids, seed=c.train.seed)
    check_beam(model, c.retrieve.beam_size)
    train = ds.split("train")
    ex = build_examples(model.tokenizer.encode, sub, docs, train.queries, train.qrels, c.train.doc_max_tokens,
                        c.train.query_max_tokens)
    ecfg = eval_config(cfg.evaluation)
    qrels = {s: restrict_qrels(ds.split(s).qrels, sub) for s in ("dev", "test") if s in ds.splits}
    dev = (ds.split("dev").queries, qrels["dev"]) if "dev" in qrels else None
    setup_s = time.perf_counter() - t0
    tr = train_dsi(model, ex, c.train, dev=dev, beam_size=c.retrieve.beam_size,
                   relevance_level=ecfg.relevance_level)
    save_dsi(model, checkpoint_dir)
    device = select_device(c.train.device)
    metrics: dict[str, Any] = {}
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    t1 = time.perf_counter()
    for split in ("test", "dev"):
        if split not in qrels:
            continue
        r = retrieve(model, ds.split(split).queries, c.retrieve.beam_size, batch_size=c.retrieve.batch_size,
                     max_query_tokens=c.train.query_max_tokens, device=device)
        write_trec_run(r, run_dir / f"{split}.trec", tag="dsi")
        agg, per_query[split] = score(qrels[split], r, ecfg)
        prefix = "" if split == "test" else f"{split}_"
        metrics.update({prefix + k: v for k, v in agg.items()})
    eval_s = time.perf_counter() - t1
    if "test" in qrels:
        bm25 = BM25Retriever(dataclasses.replace(cfg.bm25, depth=min(cfg.bm25.depth, len(sub)))).index(sub)
        agg, _ = score(qrels["test"], bm25.retrieve(ds.split("test").queries), ecfg)
        metrics.update({f"bm25_subset_{k}": v for k, v in agg.items()})
        for k in HITS:
            metrics[f"random_hits@{k}"] = random_hits_at_k(qrels["test"], len(sub), k, ecfg.relevance_level)
    metrics.update({
        "n_docs": len(docs), "n_retrieval_pairs": len(ex.pairs), "id_scheme": ids.scheme, "id_max_len": ids.max_len,
        "params": model.num_parameters(), "train_steps": tr.steps, "selected_step": tr.best_step,
        "train_s": tr.train_s, "dev_select_s": tr.eval_s, "eval_s": eval_s, "setup_s": setup_s,
        "total_s": time.perf_counter() - t0, "relevance_level": ecfg.relevance_level,
        "beam_size": c.retrieve.beam_size, "selection": c.train.selection, "selection_metric": c.train.metric,
        "arch": c.model.arch, "dev_history": tr.history})
    if "test" in qrels:
        prunable = dsi_prunable(model.net, c.prune.include_embeddings)
        common = dict(task=TASK, target_sparsity=0.0, achieved_sparsity=0.0, split="test", primary_metric=PRIMARY)
        write_cell(cell_dir / "dense.test.json", make_cell(
            model="dsi", method="dense", seed=c.train.seed, **common, **ranking_columns(metrics),
            **sparsity_columns(model.net, prunable), nonzero_params=nonzero_params(model.net),
            wall_time_s=time.perf_counter() - t0,
            per_query_path=str(run_dir / "per_query.json")))
        write_cell(cell_dir / "bm25.test.json", make_cell(model="bm25", method="bm25", seed=0, **common,
                                                          **ranking_columns(metrics, "bm25_subset_")))
    atomic_write_json(metrics_path, metrics)
    atomic_write_json(run_dir / "per_query.json", per_query)
    atomic_write_json(run_dir / "train_history.json", {"config": to_mapping(c), **tr.as_dict()})
    return DSIStageResult(metrics=metrics, per_query=per_query, history=tr.history)


__all__ = ["DSIStage", "DSIStageResult", "run", "score", "eval_config", "random_hits_at_k", "ranking_columns",
           "CHECKPOINT", "RUN_DIR", "METRICS", "CELL_DIR", "TASK"]
