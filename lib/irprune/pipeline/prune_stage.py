"""Prune stage (``prune@<model>-<method>-<sparsity>-<seed>``): one cell of the pruning grid.

Loads the dense checkpoint the train stage trained at the cell's seed (``models/<model>-s<seed>``), prunes and recovers it with one method to one target sparsity
(:func:`irprune.prune_cell.run_cell`), re-ranks the BM25 candidates of the evaluated splits, and writes into
``runs/prune/<cell>/``: the tidy-results cells (``cell.<split>.json``, :mod:`irprune.cells.schema`),
the TREC runs, the per-query
scores, the mask summary (achieved sparsity per tensor and overall against the target), the pruning log (sparsity
and PQ Index at every pruning iteration) and the costs (non-zero parameters, FLOPs per pair for dense and sparse
execution, size on disk dense and compressed-sparse, CPU latency per query).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import paths
from ..data.store import read_dataset
from ..errors import DataFormatError
from ..evaluation import eval_config_for
from ..io import atomic_write_json
from ..models import load_checkpoint
from ..prune_cell import run_cell
from ..pruning import current_mask, fold, pqi_global, prunable_parameters, sparsity_report
from ..pruning.methods import is_structured
from ..pruning.sparsity import sparsity_columns
from ..cells.schema import cost_columns, make_cell, write_cell
from ..runs import read_trec_run, write_trec_run
from ..training import build_pool


@dataclass
class PruneStageResult:
    cell_id: str
    metrics: dict[str, dict[str, float]]
    summary: dict[str, Any]

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.metrics).T

    def tensors(self) -> Any:
        """Achieved sparsity per tensor."""
        import pandas as pd

        return pd.DataFrame(self.summary.get("tensors", [])).set_index("name") if self.summary.get("tensors") \
            else pd.DataFrame()


def _queries_for_latency(ds: Any, bm25_test: dict, k: int, n: int) -> list[list[tuple[str, str]]]:
    test = ds.splits["test"]
    out = []
    for qid in sorted(bm25_test)[:n]:
        docs = sorted(bm25_test[qid], key=lambda d: (-bm25_test[qid][d], d))[:k]
        out.append([(test.queries[qid], ds.corpus[d]) for d in docs])
    return out


def run(cfg: Any, model: str, method: str, sparsity: float, seed: int) -> PruneStageResult:
    """Run one grid cell; ``cfg`` is the prune stage config (``prune``, ``train``, ``models.<model>``, ...)."""
    t0 = time.perf_counter()
    cid = paths.cell_id(model, method, sparsity, seed)
    tcfg = cfg.model.train_config(cfg.train)
    pcfg = cfg.prune.for_model(model)
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    ds = read_dataset(paths.DATASET)
    bm25 = {s: read_trec_run(paths.candidates_run(s)) for s in ("train", *pcfg.eval_splits)}
    ckpt = paths.model_dir(paths.trained(model, seed))          # the dense model of this cell's training seed
    if not ckpt.is_dir():
        raise DataFormatError(f"no dense checkpoint for {model!r} at training seed {seed}", path=ckpt,
                              fix=f"add {seed} to params.yaml grid.train_seeds and run "
                                  f"`dvc repro train@{model}-{seed}`")
    net = load_checkpoint(ckpt, expect=model)
    include, exclude = pcfg.include, pcfg.exclude
    kinds = ("linear",) if is_structured(method) else include     # structured methods remove linear weights
    dense_prunable = sum(p.numel() for p in prunable_parameters(net, kinds, exclude).values())
    dense_total = sum(p.numel() for p in net.parameters())
    train = ds.splits["train"]
    pool = build_pool(train.queries, train.qrels, bm25["train"], ds.corpus_for("train"),
                      depth=tcfg.negative_depth)

    cell = run_cell(net, method, sparsity, seed, pcfg, tcfg, pool, corpus=ds.corpus,
                    eval_data={s: (ds.splits[s].queries, ds.splits[s].qrels, bm25[s]) for s in pcfg.eval_splits},
                    eval_config=lambda qrels: eval_config_for(qrels, cfg.evaluation))
    mask = current_mask(net)
    if is_structured(method):   # weights removed from the model count as pruned
        kept = sum(p.numel() for p in prunable_parameters(net, ("linear",), exclude).values())
        achieved = 1.0 - kept / dense_prunable
        report: dict[str, Any] = {"sparsity": achieved, "target": sparsity, "pruned_heads":
                                  {str(k): v for k, v in getattr(net.bert.config, "pruned_heads", {}).items()},
                                  "pruned_ffn_neurons": {str(k): len(v) for k, v in (getattr(
                                      net.bert.config, "pruned_ffn_neurons", None) or {}).items()}}
        pqi = None
    else:
        report = sparsity_report(net, mask, target=sparsity)
        achieved = float(report["sparsity"])
        pqi = float(pqi_global(net, mask))
    fold(net)
    net.eval()
    covered = sparsity_columns(net, prunable_parameters(net, kinds, exclude), dense_prunable=dense_prunable,
                               dense_total=dense_total)
    prune_s = time.perf_counter() - t0

    run_dir = paths.prune_run_dir(cid)
    metrics: dict[str, dict[str, float]] = {}
    per_query: dict[str, Any] = {}
    for split, (ranking, res) in cell.task.rankings().items():
        write_trec_run(ranking, run_dir / f"{split}.trec", tag=f"{model}-{method}-{sparsity}")
        metrics[split] = res.metrics()
        per_query[split] = res.per_query
    atomic_write_json(run_dir / "per_query.json", per_query)
    eval_s = time.perf_counter() - t0 - prune_s

    lat = cfg.costs.latency
    costs = _measure(net, cfg, _queries_for_latency(ds, bm25["test"], lat.k, lat.n_queries)
                     if "test" in bm25 else None)
    summary = {"cell": cid, "model": model, "method": method, "target_sparsity": sparsity, "seed": seed,
               "achieved_sparsity": achieved, "pqi": pqi, "dense_total_params": dense_total,
               "dense_prunable_params": dense_prunable, "include": list(include), "exclude": list(exclude),
               "scope": pcfg.scope, "recovery_steps": pcfg.recovery_steps, "notes": cell.notes,
               "prune_seconds": round(prune_s, 2), "eval_seconds": round(eval_s, 2),
               **{k: v for k, v in report.items() if k != "target"}}
    atomic_write_json(run_dir / "mask_summary.json", summary)
    cell.log.save(run_dir / "pruning_log.json")
    atomic_write_json(run_dir / "costs.json", costs)
    wall = time.perf_counter() - t0
    for split, m in metrics.items():
        write_cell(run_dir / f"cell.{split}.json", make_cell(
            task="ranking", model=model, method=method, target_sparsity=sparsity, achieved_sparsity=achieved,
            seed=seed, split=split, primary_metric=tcfg.metric,
            **{k.replace("@", "_at_"): v for k, v in m.items() if k in _RANKING},
            pqi=pqi, wall_time_s=wall, per_query_path=str(run_dir / "per_query.json"),
            **{**cost_columns(costs), **covered}))
    print(f"{cid}: sparsity {achieved:.4f} (target {sparsity}); "
          + ", ".join(f"{s} {tcfg.metric} {m[tcfg.metric]:.4f}" for s, m in metrics.items())
          + f"; {wall:.0f}s")
    return PruneStageResult(cell_id=cid, metrics=metrics, summary=summary)


_RANKING = ("mrr@10", "ndcg@10", "map", "recall@10", "recall@100", "recall@1000")


def _measure(net: Any, cfg: Any, queries: Any) -> dict[str, Any]:
    from ..costs.summary import measure_costs

    return measure_costs(net, cfg.costs, queries)


__all__ = ["PruneStageResult", "run"]
