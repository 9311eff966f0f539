"""The data and bm25 stages of every fold of an overlay with ``data.splits.method: folds``, pooled.

For an overlay merged into ``params.yaml``, runs the data stage's and the bm25 stage's code once per fold
(``data.splits.fold`` = 0 .. k-1) in its own folder under ``--out`` (the layout of a project folder), then pools the
folds' BM25 test scores as the report does (:func:`irprune.report.realtext.pool`) and checks them against one
evaluation of BM25 over all judged queries (fold 0's dev + test: BM25 does not depend on the split).  Prints, per
fold, the dev/test sizes and BM25's test nDCG@10 / MRR@10, then the pooled figures.  Paths in the overlay are
relative to the project root (run it from there).

    python benchmarks/bench_folds.py configs/msmarco-dl19-subset.yaml --out /tmp/folds
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from irprune.config import from_mapping, load_params
from irprune.overlay import deep_merge
from irprune.pipeline import bm25_stage, data_stage
from irprune.report import realtext
from irprune.significance import SignificanceConfig
from irprune.stage_configs.bm25 import BM25Stage
from irprune.stage_configs.data import DataStage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("overlay", type=Path)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, required=True, help="one project-like folder per fold is made here")
    args = ap.parse_args()
    params = deep_merge(load_params(args.params), load_params(args.overlay))
    data = params["data"]
    data["local"]["path"] = str(Path(data["local"]["path"]).resolve())
    k = data["splits"]["k"]
    bm25_cfg = from_mapping(BM25Stage, {"bm25": params["bm25"], "evaluation": params["evaluation"]})
    home = Path.cwd()
    roots = []
    print("fold  dev  test  test_ndcg@10  test_mrr@10  seconds")
    for fold in range(k):
        root = (args.out / f"fold{fold}").resolve()
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        os.chdir(root)
        try:
            cfg = from_mapping(DataStage, {"data": deep_merge(data, {"splits": {"fold": fold}})})
            card = data_stage.run(cfg)
            res = bm25_stage.run(bm25_cfg)
        finally:
            os.chdir(home)
        roots.append(root)
        sp = card["splits"]
        print(f"{fold:>4}  {sp['dev']['judged_queries']:>3}  {sp['test']['judged_queries']:>4}  "
              f"{res.metrics['test']['ndcg@10']:>12.4f}  {res.metrics['test']['mrr@10']:>11.4f}  "
              f"{time.perf_counter() - t0:>7.0f}")
    pooled = realtext.pool([realtext.load_run(r) for r in roots])
    rows = realtext.rows(pooled, SignificanceConfig())
    whole = json.loads((roots[0] / "runs" / "bm25" / "per_query.json").read_text())
    for m in realtext.METRICS:
        union = {**whole["dev"][m], **whole["test"][m]}
        assert union.keys() == pooled.bm25[m].keys(), "the folds do not cover fold 0's dev + test"
        assert all(abs(union[q] - pooled.bm25[m][q]) < 1e-12 for q in union), f"pooled {m} differs"
    print(f"pooled over {k} folds: {len(pooled.bm25['ndcg@10'])} judged queries, BM25 nDCG@10 "
          f"{rows[0].means['ndcg@10']:.4f}, MRR@10 {rows[0].means['mrr@10']:.4f} (equal, query by query, to BM25 "
          "on fold 0's dev + test)")


if __name__ == "__main__":
    main()
