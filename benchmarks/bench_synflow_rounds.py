"""How many mask entries SynFlow's iterative rounds change: 20 rounds against Tanaka et al.'s (2020) 100.

Scores each small model at its seeded initialisation (the cross-task cells' ``prune_at: init``) and, for the
ranker, at the trained-free tiny Conv-KNRM, with SynFlow to each sparsity at both round counts, and prints the
entries where the two masks differ (of the prunable weights) and the scoring time of each.

    python benchmarks/bench_synflow_rounds.py [--rounds 20 100] [--sparsities 0.9 0.99]
"""

from __future__ import annotations

import argparse
import time

import torch

from irprune.pruning import prune_oneshot, prunable_parameters
from irprune.pruning.apply import fold


def _tasks():
    from irprune.config import from_mapping
    from irprune.tasks.classification import ClassificationTask, ClassificationTaskConfig
    from irprune.tasks.prune import task_prunable
    from irprune.tasks.vision.task import VisionTask, VisionTaskConfig

    cls = ClassificationTask(from_mapping(ClassificationTaskConfig, {"synthetic": {"n_train": 400, "n_test": 50},
                                                                     "train": {"device": "cpu"}}))
    vis = VisionTask(from_mapping(VisionTaskConfig, {"max_train": 256, "max_test": 64, "train": {"device": "cpu"}}))
    for task, model in ((cls, "embedding_bag"), (cls, "transformer"), (vis, "lenet")):
        def build(task=task, model=model):
            torch.manual_seed(0)
            m = task.build_model(model, 0)
            return m, task_prunable(m), task.score_context(0, 1)
        yield f"{task.task}-{model}", build


def _ranker():
    from irprune.models import build_model
    from irprune.pruning import ScoreContext
    from irprune.text import Vocab

    words = [f"w{i}" for i in range(200)]
    docs = [" ".join(words[(i * 7 + j) % 200] for j in range(20)) for i in range(50)]
    vocab = Vocab.build(docs)

    def build():
        m = build_model("conv_knrm", {"embedding_dim": 32, "n_filters": 32}, vocab, seed=0)
        batch = m.collate([("w1 w2", docs[0])])
        return m, prunable_parameters(m, ("linear", "conv")), ScoreContext(forward_ones=lambda mm: mm(batch))
    yield "ranking-conv_knrm", build


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, nargs=2, default=[20, 100])
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.99])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| model | prunable | sparsity | entries differing (20 vs 100) | share of prunable | s (20) | s (100) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, build in [*_tasks(), *_ranker()]:
        for sparsity in args.sparsities:
            masks, secs = [], []
            for rounds in args.rounds:
                model, prunable, ctx = build()
                t0 = time.perf_counter()
                masks.append(prune_oneshot(model, "synflow", sparsity, prunable=prunable, ctx=ctx, rounds=rounds))
                secs.append(time.perf_counter() - t0)
                fold(model)
            a, b = masks
            diff = sum(int((a[n] != b[n]).sum()) for n in a)
            print(f"| {name} | {a.numel} | {sparsity} | {diff} | {diff / a.numel:.4f} | {secs[0]:.2f} | {secs[1]:.2f} |")


if __name__ == "__main__":
    main()
