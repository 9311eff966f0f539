"""Budget of the cross-task study's default share: dense training + the default pruning subset per task.

Runs the cells the default ``dvc.yaml`` matrix runs (per task: dense, then random and GraSP at compression 0.3,
1 and 2, i.e. sparsity 0.5, 0.9, 0.99) with the default ``params.yaml`` ``tasks:`` section, and prints wall and
CPU seconds and the primary metric per cell.  Usage::

    python benchmarks/bench_tasks.py [--threads N] [--tasks classification translation] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from irprune.pruning import plain_state_dict
from irprune.tasks import build_task, run_cell
from irprune.pipeline.task_stage import TasksConfig

DEFAULT_CELLS = {  # task -> (model, methods, sparsities)
    "classification": ("embedding_bag", ("random", "grasp"), (0.5, 0.9, 0.99)),
    "translation": ("seq2seq", ("random", "grasp"), (0.5, 0.9, 0.99)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--tasks", nargs="+", default=list(DEFAULT_CELLS))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TasksConfig()
    rows = []
    t_all, c_all = time.perf_counter(), time.process_time()
    for name in args.tasks:
        t0, c0 = time.perf_counter(), time.process_time()
        task = build_task(name, cfg)
        print(f"{name}: data {time.perf_counter() - t0:.1f}s {json.dumps(task.describe())}")
        model, methods, sparsities = DEFAULT_CELLS[name]
        cells = [("dense", 0.0)] + [(m, s) for m in methods for s in sparsities]
        dense_state = None
        for method, sp in cells:
            t1, c1 = time.perf_counter(), time.process_time()
            res = run_cell(task, model, method, sp, 0, cfg.pruning, dense_state=dense_state)
            if method == "dense":
                dense_state = plain_state_dict(res.model)
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
