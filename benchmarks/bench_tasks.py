"""Budget of the cross-task study's default share: dense training + the default pruning grid per task.

Runs the cells of ``params.yaml``'s ``task_grid`` (the ``task_dense`` and ``task`` stages' matrices) with its
``tasks:`` section, in-process (no papermill/DVC overhead; ``dvc repro task_dense task`` adds a few seconds of
kernel start-up per stage), and prints wall and CPU seconds and the primary metric per cell.  Usage::

    python benchmarks/bench_tasks.py [--params params.yaml] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from irprune.config import load_params
from irprune.pipeline.task_stage import load_task_stage, split_pair
from irprune.pruning import plain_state_dict
from irprune.tasks import build_task, run_cell


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_task_stage(args.params).tasks
    if cfg.num_threads and not args.threads:
        torch.set_num_threads(cfg.num_threads)
    grid = load_params(args.params)["task_grid"]
    rows = []
    t_all, c_all = time.perf_counter(), time.process_time()
    for pair in grid["pairs"]:
        name, model = split_pair(pair)
        t0, c0 = time.perf_counter(), time.process_time()
        task = build_task(name, cfg)
        print(f"{name}: data {time.perf_counter() - t0:.1f}s {json.dumps(task.describe())}")
        cells = [("dense", 0.0, seed) for seed in grid["seeds"]] + [
            (m, s, seed) for seed in grid["seeds"] for m in grid["methods"] for s in grid["sparsities"]]
        dense_state = {}
        for method, sp, seed in cells:
            t1, c1 = time.perf_counter(), time.process_time()
            res = run_cell(task, model, method, sp, seed, cfg.pruning, dense_state=dense_state.get(seed))
            if method == "dense":
                dense_state[seed] = plain_state_dict(res.model)
            r = res.record
            row = {"task": name, "model": model, "method": method, "sparsity": sp, "compression": r["compression"],
                   r["primary_metric"]: round(r["primary_value"], 4), "flop_sparsity": round(r["flop_sparsity"], 4),
                   "wall_s": round(time.perf_counter() - t1, 2), "cpu_s": round(time.process_time() - c1, 2)}
            rows.append(row)
            print(json.dumps(row))
        print(f"{name}: total wall {time.perf_counter() - t0:.1f}s cpu {time.process_time() - c0:.1f}s")
    total = {"wall_s": round(time.perf_counter() - t_all, 1), "cpu_s": round(time.process_time() - c_all, 1),
             "threads": torch.get_num_threads()}
    print("TOTAL", json.dumps(total))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "total": total}, fh, indent=1)


if __name__ == "__main__":
    main()
