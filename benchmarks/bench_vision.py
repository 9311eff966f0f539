"""The vision task's targets, measured with ``params.yaml``'s ``tasks:`` section (LeNet on the 8x8 digits by default).

Prints, in-process (no papermill/DVC start-up), per seed:

* the dense model's test accuracy (target: >= 0.97 at every seed);
* every method of ``--methods`` at every ``--sparsities`` (test accuracy, achieved sparsity, FLOP sparsity, the
  cell's wall and CPU seconds), with the one-shot methods pruning at initialisation as the ``task`` stage does;
  ``--magnitude-dense`` adds one-shot magnitude pruning of the *trained* dense model with fine-tuning (Han et al.
  2015's protocol; ``prune_at: dense``) as ``magnitude@dense``;

then, per sparsity, each method against random with two paired tests: a t-test over the seeds' accuracies
(``irprune.significance.compare``, n = number of seeds) and a paired randomization test over (seed, test image)
correctness (n = seeds x test images), and SynFlow against SNIP at the same sparsities (Tanaka et al. 2020: SynFlow
avoids the layer collapse of one-shot global scores at extreme sparsity).  Per-tensor sparsities of SNIP and
SynFlow at the highest sparsity show where a layer collapses.  Usage::

    python benchmarks/bench_vision.py [--params params.yaml] [--seeds 0 1 2] [--sparsities 0.9 0.95 0.99]
        [--methods random magnitude snip grasp synflow gmp] [--magnitude-dense] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from irprune.pipeline.task_stage import load_task_stage
from irprune.pruning import plain_state_dict
from irprune.significance import compare, randomization_p
from irprune.tasks import build_task, run_cell


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model", default="lenet")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.99])
    ap.add_argument("--methods", nargs="+", default=["random", "magnitude", "snip", "grasp", "synflow", "gmp"])
    ap.add_argument("--magnitude-dense", action="store_true", help="also magnitude pruning of the trained model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_task_stage(args.params).tasks
    t0 = time.perf_counter()
    task = build_task("vision", cfg)
    described = {k: v for k, v in task.describe().items() if k != "normalisation"}
    print(f"data {time.perf_counter() - t0:.1f}s {json.dumps(described)}")
    gold = task.data.test.labels.numpy()
    correct: dict[tuple[str, float, int], np.ndarray] = {}
    acc: dict[tuple[str, float, int], float] = {}
    rows = []

    def run(method: str, sp: float, seed: int, pcfg, dense_state, key: str) -> dict:
        t1, c1 = time.perf_counter(), time.process_time()
        res = run_cell(task, args.model, method, sp, seed, pcfg, dense_state=dense_state)
        wall, cpu = time.perf_counter() - t1, time.process_time() - c1
        correct[(key, sp, seed)] = np.asarray(task.predict(res.model)) == gold
        r = res.record
        acc[(key, sp, seed)] = r["accuracy"]
        row = {"method": key, "sparsity": sp, "seed": seed, "accuracy": round(r["accuracy"], 4),
               "achieved_sparsity": round(r["achieved_sparsity"], 4), "zero_fraction": round(r["zero_fraction"], 4),
               "flop_sparsity": round(r["flop_sparsity"], 4), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
        if method in ("snip", "synflow", "magnitude") and sp == max(args.sparsities):
            row["tensor_sparsity"] = {k: round(v, 3) for k, v in r["tensor_sparsity"].items()}
        rows.append(row)
        print(json.dumps(row), flush=True)
        return res

    dense_states = {}
    for seed in args.seeds:
        res = run("dense", 0.0, seed, cfg.pruning, None, "dense")
        dense_states[seed] = plain_state_dict(res.model)
    dense_acc = [acc[("dense", 0.0, s)] for s in args.seeds]
    print(f"DENSE accuracy per seed {dense_acc}; min {min(dense_acc):.4f} "
          f"({'OK' if min(dense_acc) >= 0.97 else 'FAIL'}: target >= 0.97)")
    at_dense = dataclasses.replace(cfg.pruning, prune_at="dense")
    methods = list(args.methods) + (["magnitude@dense"] if args.magnitude_dense else [])
    for seed in args.seeds:
        for sp in args.sparsities:
            for m in methods:
                if m == "magnitude@dense":
                    run("magnitude", sp, seed, at_dense, dense_states[seed], m)
                else:
                    run(m, sp, seed, cfg.pruning, dense_states[seed], m)

    def versus(a: str, b: str, sp: float) -> dict:
        seeds = [s for s in args.seeds if (a, sp, s) in acc and (b, sp, s) in acc]
        out = {"a": a, "b": b, "sparsity": sp, "mean_a": float(np.mean([acc[(a, sp, s)] for s in seeds])),
               "mean_b": float(np.mean([acc[(b, sp, s)] for s in seeds])), "n_seeds": len(seeds)}
        if len(seeds) >= 2:
            out["p_seed_ttest"] = compare({str(s): acc[(a, sp, s)] for s in seeds},
                                          {str(s): acc[(b, sp, s)] for s in seeds}, "t-test").p_value
        d = np.concatenate([correct[(a, sp, s)].astype(float) - correct[(b, sp, s)] for s in seeds])
        out["p_image_randomization"] = randomization_p(d, 100_000, 0)
        out["n_pairs"] = len(d)
        return out

    tests = []
    for sp in args.sparsities:
        for m in methods:
            if m != "random":
                tests.append(versus(m, "random", sp))
        if "synflow" in methods and "snip" in methods:
            tests.append(versus("synflow", "snip", sp))
    print("\nPAIRED TESTS (a vs b: seed means, t-test over seeds, randomization over seed x image pairs)")
    for t in tests:
        print(f"{t['a']:>16} vs {t['b']:<7} @ {t['sparsity']:.2f}: {t['mean_a']:.4f} vs {t['mean_b']:.4f} "
              f"(diff {t['mean_a'] - t['mean_b']:+.4f}); p_seeds = {t.get('p_seed_ttest', float('nan')):.3g} "
              f"(n = {t['n_seeds']}), p_images = {t['p_image_randomization']:.3g} (n = {t['n_pairs']})")
    per_cell = [r["wall_s"] for r in rows]
    total = {"cells": len(rows), "wall_s": round(time.perf_counter() - t0, 1), "mean_cell_wall_s":
             round(float(np.mean(per_cell)), 2), "max_cell_wall_s": round(max(per_cell), 2),
             "threads": torch.get_num_threads()}
    print("TOTAL", json.dumps(total))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "tests": tests, "total": total}, fh, indent=1)


if __name__ == "__main__":
    main()
