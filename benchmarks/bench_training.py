"""Per-stage times of the default training (pretrain, train@<model>) and re-ranking throughput.

Runs the stage bodies exactly as ``dvc repro`` does (same params.yaml), in a scratch directory that links the
project's ``data/`` and ``runs/bm25/`` (run ``dvc repro bm25`` first), so the project's outputs are untouched.
Prints one row per stage: wall seconds, training seconds and steps, test MRR@10 vs BM25 with the p-value, and
the re-ranking throughput (dev + test BM25 candidates, pairs per second, length-sorted batches).

    python benchmarks/bench_training.py [--models monobert conv_knrm] [--set train.max_steps=50 ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _set(params: dict, dotted: str, value: str) -> None:
    node = params
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = yaml.safe_load(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=None, help="default: params.yaml's rankers")
    ap.add_argument("--skip-pretrain", action="store_true", help="reuse the project's models/pretrain")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override (dotted key)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for item in args.set:
        key, _, value = item.partition("=")
        _set(params, key, value)
    models = args.models or params["rankers"]
    for need in ("data/dataset", "runs/bm25/test.trec"):
        if not (ROOT / need).exists():
            raise SystemExit(f"{ROOT / need} not found; run `dvc repro bm25` first")

    from irprune import paths
    from irprune.pipeline import pretrain_stage, train_stage
    from irprune.stages import load_stage

    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    cwd = os.getcwd()
    rows: list[dict] = []
    try:
        (work / "runs").mkdir()
        os.symlink(ROOT / "data", work / "data")
        os.symlink(ROOT / "runs" / "bm25", work / "runs" / "bm25")
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        if args.skip_pretrain:
            shutil.copytree(ROOT / paths.PRETRAIN_DIR, work / paths.PRETRAIN_DIR)
        os.chdir(work)
        if not args.skip_pretrain:
            t0 = time.perf_counter()
            res = pretrain_stage.run(load_stage("pretrain", "params.yaml"))
            rows.append({"stage": "pretrain", "seconds": time.perf_counter() - t0,
                         "steps": res.info.get("mlm_steps", 0)})
        for name in models:
            t0 = time.perf_counter()
            out = train_stage.run(load_stage("train", "params.yaml", item={"model": name, "seed": 0}), 0)
            m = out.metrics
            n_pairs = _pairs(paths, paths.trained(name, 0))
            rows.append({"stage": f"train@{name}", "seconds": time.perf_counter() - t0,
                         "train_seconds": m["train_seconds"], "steps": m["steps"], "params": m["parameters"],
                         "test_mrr@10": m["test"]["mrr@10"], "p_value": m["vs_bm25"]["p_value"],
                         "rerank_pairs_per_s": n_pairs / m["rerank_seconds"]})
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    bm25 = json.loads((ROOT / "metrics" / "bm25.json").read_text())["test"]["mrr@10"]
    print(f"BM25 test MRR@10 = {bm25:.4f}")
    print(f"{'stage':24} {'wall s':>8} {'train s':>8} {'steps':>6} {'params':>10} {'MRR@10':>7} {'p':>9} "
          f"{'pairs/s':>8}")
    for r in rows:
        print(f"{r['stage']:24} {r['seconds']:8.1f} {r.get('train_seconds', 0):8.1f} {r.get('steps', 0):6d} "
              f"{r.get('params', 0):10,d} {r.get('test_mrr@10', float('nan')):7.4f} "
              f"{r.get('p_value', float('nan')):9.2e} {r.get('rerank_pairs_per_s', float('nan')):8.0f}")
    print(f"total {sum(r['seconds'] for r in rows):.1f} s")
    if args.json:
        from irprune.io import atomic_write_json

        atomic_write_json(args.json, {"bm25_test_mrr@10": bm25, "stages": rows})


def _pairs(paths: object, name: str) -> int:
    """Re-ranked (query, document) pairs of dev + test: the lines of the model's run files."""
    return sum(sum(1 for _ in open(paths.model_run(name, s), encoding="utf-8"))  # type: ignore[attr-defined]
               for s in ("dev", "test"))


if __name__ == "__main__":
    main()
