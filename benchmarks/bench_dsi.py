"""Benchmark the DSI stage's default share of the study: training + evaluation time and effectiveness.

    python benchmarks/bench_dsi.py [--params params.yaml] [-o KEY=VALUE ...] [--json out.json]

Runs :func:`irprune.pipeline.dsi_stage.run` on ``data/dataset`` (run the data stage first) into a temporary
folder, with the ``dsi`` section of ``params.yaml`` (DSI defaults when absent) and dotted overrides such as
``-o train.steps=300 -o ids.scheme=semantic``.  Prints times (setup, training, dev selection, retrieval) and
test metrics beside BM25 over the same documents.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from irprune import paths
from irprune.config import from_mapping, load_params
from irprune.io import atomic_write_json
from irprune.pipeline import dsi_stage


def _set(d: dict, dotted: str, value: str) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                    help="dotted key under dsi (e.g. train.steps=300)")
    ap.add_argument("--json", default=None, help="also write the metrics here")
    args = ap.parse_args(argv)
    if not (paths.DATASET / "meta.json").is_file():
        print(f"error: {paths.DATASET} not found; run `dvc repro data` first", file=sys.stderr)
        return 2
    params = load_params(args.params) if Path(args.params).is_file() else {}
    section = {"dsi": dict(params.get("dsi") or {}), "bm25": params.get("bm25") or {},
               "evaluation": params.get("evaluation") or {}}
    for o in args.override:
        key, _, value = o.partition("=")
        _set(section["dsi"], key, value)
    cfg = from_mapping(dsi_stage.DSIStage, section)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = dsi_stage.run(cfg, checkpoint_dir=Path(tmp) / "ckpt", run_dir=Path(tmp) / "runs",
                            metrics_path=Path(tmp) / "metrics.json", cell_dir=Path(tmp) / "cells")
    wall = time.perf_counter() - t0
    m = res.metrics
    print(f"documents {m['n_docs']} ({m['id_scheme']} ids, max length {m['id_max_len']}), retrieval pairs "
          f"{m['n_retrieval_pairs']}, parameters {m['params']:,}")
    print(f"time: setup {m['setup_s']:.1f}s  train {m['train_s']:.1f}s ({m['train_steps']} steps)  "
          f"dev selection {m['dev_select_s']:.1f}s  retrieval+eval {m['eval_s']:.1f}s  total {wall:.1f}s")
    keys = ("mrr@10", "hits@1", "hits@10", "map", "recall@10", "recall@100")
    print(f"{'test':>22} " + " ".join(f"{k:>10}" for k in keys))
    print(f"{'DSI':>22} " + " ".join(f"{m[k]:10.4f}" for k in keys))
    print(f"{'BM25 (same documents)':>22} " + " ".join(f"{m['bm25_subset_' + k]:10.4f}" for k in keys))
    if args.json:
        atomic_write_json(args.json, {**m, "wall_s": wall})
    print(json.dumps({"selected_step": m["selected_step"], "history": res.history}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
