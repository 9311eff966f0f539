"""BM25 on pseudo-queries of a real collection: how often the positive comes first, by strategy.

For an overlay (``configs/cranfield.yaml``, ``configs/npl.yaml``, ``configs/msmarco-dl19-subset.yaml``) merged into
``params.yaml``, builds the dataset once per ``--strategies`` entry (with ``--max-words`` overriding the window
taken from the judged queries), runs the bm25 stage's code on it in a temporary folder and prints BM25's train
(pseudo-query) and test MRR@10 / nDCG@10, the window and how many positives lost their sentence.  Paths in the
overlay are relative to the project root (run it from there).

    python benchmarks/bench_pseudo_queries.py configs/cranfield.yaml [--strategies sentence ict] [--max-words 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from irprune.config import from_mapping, load_params
from irprune.data.config import DataConfig
from irprune.data.load import load_dataset
from irprune.data.store import write_dataset
from irprune.overlay import deep_merge
from irprune.pipeline import bm25_stage
from irprune.stage_configs.bm25 import BM25Stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("overlay", type=Path)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--strategies", nargs="+", default=["sentence", "ict"])
    ap.add_argument("--max-words", type=int, default=None, help="fixed window (default: the overlay's)")
    args = ap.parse_args()
    params = deep_merge(load_params(args.params), load_params(args.overlay))
    stage = from_mapping(BM25Stage, {"bm25": params["bm25"], "evaluation": params["evaluation"]})
    print("strategy  window  changed  train_mrr@10  train_ndcg@10  test_mrr@10  test_ndcg@10  seconds")
    for strategy in args.strategies:
        t0 = time.perf_counter()
        raw = dict(params["data"], local=dict(params["data"]["local"],
                                              path=str(Path(params["data"]["local"]["path"]).resolve())))
        pq = dict(raw["pseudo_queries"], strategy=strategy)
        if args.max_words is not None:
            pq["max_words"] = args.max_words
        raw["pseudo_queries"] = pq
        ds, _ = load_dataset(from_mapping(DataConfig, raw))
        info = ds.meta["splits"]["pseudo_queries"]  # type: ignore[index]
        here = Path.cwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)       # the stage writes its runs under runs/bm25/: keep the project's own untouched
            try:
                out = write_dataset(ds, Path(tmp) / "dataset")
                res = bm25_stage.run(stage, dataset_dir=out, metrics_path=Path(tmp) / "m.json",
                                     per_query_path=Path(tmp) / "pq.json")
            finally:
                os.chdir(here)
        tr, te = res.metrics["train"], res.metrics["test"]
        print(f"{strategy:9s} {info['window_words']:6d} {info['positives_changed']:8d} {tr['mrr@10']:13.3f} "
              f"{tr['ndcg@10']:14.3f} {te['mrr@10']:12.3f} {te['ndcg@10']:13.3f} {time.perf_counter() - t0:8.0f}",
              flush=True)


if __name__ == "__main__":
    main()
