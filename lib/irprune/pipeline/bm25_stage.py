"""BM25 stage: top-k candidates for every split (TREC run files) and the BM25 baseline's metrics; with
``first_stage.method: hybrid`` also the checkpoint's dense retrieval and BM25's list interleaved with it
(:mod:`irprune.first_stage`), the candidates the re-rankers then reorder on the evaluated splits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .. import paths
from ..bm25 import BM25Retriever
from ..data.store import read_dataset
from ..evaluation import eval_config_for, evaluate
from ..first_stage import DenseFirstStage, interleaved_run
from ..io import atomic_write_json
from ..runs import Run, read_trec_run, write_trec_run


@dataclass
class BM25StageResult:
    metrics: dict[str, dict[str, float]]                          # split -> metric -> value
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.metrics).T


def pooled_with_candidates(ds: Any, names: Sequence[str]) -> tuple[Any, Run]:
    """Several evaluated splits as one (``RetrievalDataset.pooled``) and the bm25 stage's candidates for them (the
    hybrid lists where the stage wrote them; :func:`pooled_bm25` is BM25's own ranking)."""
    return ds.pooled(names), {q: r for n in names for q, r in read_trec_run(paths.candidates_run(n)).items()}


def pooled_bm25(names: Sequence[str]) -> Run:
    """BM25's own ranking of several splits, as one run (the baseline, whatever the candidates are)."""
    return {q: r for n in names for q, r in read_trec_run(paths.bm25_run(n)).items()}


def run(cfg: Any, dataset_dir: Path = paths.DATASET, metrics_path: Path = paths.BM25_METRICS,
        per_query_path: Path = paths.BM25_PER_QUERY,
        dense_per_query_path: Path = paths.DENSE_FIRST_STAGE_PER_QUERY) -> BM25StageResult:
    """Index the corpus, retrieve ``cfg.bm25.depth`` candidates for each split, evaluate the judged splits.

    A split with ``doc_texts`` (inverse-cloze training queries) is retrieved from its own index of
    :meth:`~irprune.data.types.RetrievalDataset.corpus_for`, so its candidates, hard negatives and metrics use the
    positives without their query sentence; every other split uses the unchanged collection.

    With ``first_stage.method: hybrid`` every split but ``train`` (whose BM25 list gives the hard negatives) also
    gets the checkpoint's dense run over the whole collection, evaluated as the dense baseline (``dense`` in the
    metrics, per query in ``dense_per_query_path``), and BM25's list interleaved with it (``paths.hybrid_run``)."""
    t0 = time.perf_counter()
    ds = read_dataset(dataset_dir)
    retriever = BM25Retriever(cfg.bm25).index(ds.corpus)
    timings = {"index_s": time.perf_counter() - t0}
    metrics: dict[str, dict[str, float]] = {}
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    fs = cfg.first_stage
    for stale in [*(paths.hybrid_run(name) for name in ds.splits), dense_per_query_path]:
        stale.unlink(missing_ok=True)      # a run outside DVC (which clears runs/bm25) leaves no other method's lists
    dense = None
    if fs.method == "hybrid":
        t1 = time.perf_counter()
        dense = DenseFirstStage(fs, ds.corpus)
        timings["dense_encode_s"] = time.perf_counter() - t1
    dense_metrics: dict[str, dict[str, float]] = {}
    dense_per_query: dict[str, dict[str, dict[str, float]]] = {}
    for name, split in ds.splits.items():
        t1 = time.perf_counter()
        # a split that sees some documents differently (inverse-cloze positives) gets its own index of that view
        split_retriever = BM25Retriever(cfg.bm25).index(ds.corpus_for(name)) if split.doc_texts else retriever
        run_ = split_retriever.retrieve(split.queries)
        timings[f"retrieve_{name}_s"] = time.perf_counter() - t1
        write_trec_run(run_, paths.bm25_run(name), tag="bm25")
        if split.qrels:
            ecfg = eval_config_for(split.qrels, cfg.evaluation)
            result = evaluate(split.qrels, run_, ecfg)
            metrics[name] = {**result.metrics(), "relevance_level": ecfg.relevance_level}
            per_query[name] = result.per_query
        if dense is not None and name != "train":
            t1 = time.perf_counter()
            dense_run = dense.retrieve(split.queries, cfg.bm25.depth)
            write_trec_run(interleaved_run(run_, dense_run, cfg.bm25.depth), paths.hybrid_run(name), tag="hybrid")
            timings[f"dense_{name}_s"] = time.perf_counter() - t1
            if split.qrels:
                ecfg = eval_config_for(split.qrels, cfg.evaluation)
                result = evaluate(split.qrels, dense_run, ecfg)
                dense_metrics[name] = {**result.metrics(), "relevance_level": ecfg.relevance_level}
                dense_per_query[name] = result.per_query
    if retriever.report.total:
        print(f"note: {retriever.report.total} queries without any indexed term got empty rankings: "
              f"{dict(retriever.report.counts)}")
    timings["total_s"] = time.perf_counter() - t0
    out = {split: dict(m) for split, m in metrics.items()}
    out["depth"] = cfg.bm25.depth
    out["candidates"] = fs.method
    if dense is not None:
        out["dense"] = {"checkpoint": fs.checkpoint, **dense_metrics}
        atomic_write_json(dense_per_query_path, dense_per_query)
    atomic_write_json(metrics_path, out)
    atomic_write_json(per_query_path, per_query)
    return BM25StageResult(metrics=metrics, per_query=per_query, timings=timings)
