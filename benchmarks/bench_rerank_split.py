"""Re-ranking time of a trained ranker on a split of the project's collection, with and without the inference
cache (the per-call reuse of each distinct text's bi-encoder prior vector, ``Ranker.inference_cache``).

Loads ``--model-dir`` (a train stage's checkpoint, e.g. ``models/monobert-s0``), re-ranks BM25's top ``--depth``
of the first ``--queries`` judged queries of ``--split`` through :func:`irprune.rerank.rerank` (the path of the
train and prune stages), alternating the two modes ``--repeats`` times in one process, and prints wall and CPU
time, pairs/s, the speed-ups and the largest score difference between the modes (CPU time is the figure to
trust on a shared machine, with ``--threads 1``).

    python benchmarks/bench_rerank_split.py --model-dir models/monobert-s0 [--split test] [--queries 60]
    # in a project where the train stage ran (any overlay in configs/); PYTHONPATH=<older checkout>/lib times
    # an older library the same way (git archive <commit> lib | tar -x -C <dir>)
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from irprune import paths
from irprune.data.store import read_dataset
from irprune.models.checkpoint import load_checkpoint
from irprune.rerank import rerank
from irprune.runs import read_trec_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--queries", type=int, default=60, help="the first n queries of the split (0 = all)")
    ap.add_argument("--depth", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_checkpoint(args.model_dir).eval()
    ds = read_dataset(paths.DATASET)
    split = ds.splits[args.split]
    bm25 = read_trec_run(paths.bm25_run(args.split))
    qids = [q for q in bm25 if q in split.queries][: args.queries or None]
    candidates = {q: bm25[q] for q in qids}
    n_pairs = sum(min(args.depth, len(c)) for c in candidates.values())
    print(f"{args.model_dir}: {len(qids)} {args.split} queries, {n_pairs} pairs, threads {torch.get_num_threads()}")
    cached = getattr(model, "inference_cache", None)
    if cached is None:
        print("this library has no inference cache: both modes run without one")
        cached = contextlib.nullcontext
    times: dict[str, list[float]] = {"cache": [], "no cache": []}
    cpu: dict[str, list[float]] = {"cache": [], "no cache": []}
    runs = {}
    for _ in range(args.repeats):
        for mode in times:
            model.inference_cache = cached if mode == "cache" else contextlib.nullcontext  # type: ignore
            t0, c0 = time.perf_counter(), time.process_time()
            runs[mode] = rerank(model, split.queries, ds.corpus, candidates, depth=args.depth,
                                batch_size=args.batch_size)
            times[mode].append(time.perf_counter() - t0)
            cpu[mode].append(time.process_time() - c0)
    diff = max(abs(runs["cache"][q][d] - runs["no cache"][q][d]) for q in runs["cache"] for d in runs["cache"][q])
    best = {m: min(t) for m, t in times.items()}
    best_cpu = {m: min(t) for m, t in cpu.items()}
    for mode, t in best.items():
        print(f"{mode:>9}: {t:7.1f} s wall, {best_cpu[mode]:7.1f} s CPU (best of {args.repeats}), "
              f"{n_pairs / t:6.1f} pairs/s")
    print(f"speed-up {best['no cache'] / best['cache']:.2f}x wall, {best_cpu['no cache'] / best_cpu['cache']:.2f}x "
          f"CPU; largest score difference {diff:.2e}")


if __name__ == "__main__":
    main()
