"""Benchmark the BM25 first stage: index and retrieval time on the real DL19 subset and a synthetic corpus.

    python benchmarks/bench_bm25.py [--backend numpy|numba] [--threads N] [--json results.json]

The real collection (../shared/data/msmarco-passage-dl19-subset) is optional: it is skipped, with the reason,
when absent.  The synthetic corpus is ~8,000 passages of Zipf-distributed random words with ~4,000 queries.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from irprune.bm25 import BM25Config, BM25Retriever
from irprune.io import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IRPRUNE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def synthetic(n_docs: int, n_queries: int, seed: int) -> tuple[dict[str, str], dict[str, str]]:
    """Random-word passages (Zipf(1.1) over a 30k vocabulary, 30-90 words) and 2-8 word queries."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(30_000)])
    ranks = np.arange(1, len(vocab) + 1)
    p = ranks ** -1.1
    p /= p.sum()

    def texts(n: int, lo: int, hi: int) -> list[str]:
        lengths = rng.integers(lo, hi, size=n)
        words = vocab[rng.choice(len(vocab), size=int(lengths.sum()), p=p)].tolist()
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        return [" ".join(words[a:b]) for a, b in zip(bounds, bounds[1:])]

    corpus = {str(i): t for i, t in enumerate(texts(n_docs, 30, 91))}
    queries = {f"q{i}": t for i, t in enumerate(texts(n_queries, 2, 9))}
    return corpus, queries


def read_tsv(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8") as fh:
        return dict(line.rstrip("\n").split("\t", 1) for line in fh)


def bench(name: str, corpus: dict[str, str], queries: dict[str, str], cfg: BM25Config,
          ks: tuple[int, ...]) -> dict[str, float]:
    t0 = time.perf_counter()
    bm25 = BM25Retriever(cfg).index(corpus)
    out = {"docs": len(corpus), "queries": len(queries), "index_s": time.perf_counter() - t0}
    for k in ks:
        t0 = time.perf_counter()
        run = bm25.retrieve(queries, k=k)
        dt = time.perf_counter() - t0
        out[f"retrieve_k{k}_s"] = dt
        out[f"retrieve_k{k}_qps"] = len(queries) / dt
        out[f"retrieve_k{k}_mean_depth"] = float(np.mean([len(r) for r in run.values()]))
    print(f"{name:>22}: {len(corpus):>6} docs, {len(queries):>5} queries, index {out['index_s']:.2f} s; " + "; ".join(
        f"k={k}: {out[f'retrieve_k{k}_s']:.2f} s ({out[f'retrieve_k{k}_qps']:.0f} q/s, "
        f"mean depth {out[f'retrieve_k{k}_mean_depth']:.0f})" for k in ks))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["numpy", "numba"], default="numpy")
    ap.add_argument("--threads", type=int, default=1, help="retrieval threads (0 = all cores)")
    ap.add_argument("--docs", type=int, default=8000)
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the figures here (atomically)")
    args = ap.parse_args(argv)
    cfg = BM25Config(backend=args.backend, n_threads=args.threads)
    print(f"BM25 ({cfg.variant}, k1={cfg.k1}, b={cfg.b}, stopwords={cfg.stopwords}), backend={cfg.backend}, "
          f"threads={cfg.n_threads}, {os.cpu_count()} CPUs")
    results: dict[str, dict[str, float]] = {}
    real = SHARED / "msmarco-passage-dl19-subset" / "derived-native-5000"
    if real.is_dir():
        results["dl19-subset"] = bench("dl19-subset (real)", read_tsv(real / "collection.tsv"),
                                       read_tsv(real / "queries.tsv"), cfg, (100, 1000))
    else:
        print(f"skipping the real DL19 subset: {real} not found (set IRPRUNE_SHARED_DATA)")
    t0 = time.perf_counter()
    corpus, queries = synthetic(args.docs, args.queries, args.seed)
    print(f"(synthetic corpus generated in {time.perf_counter() - t0:.1f} s)")
    results["synthetic"] = bench("synthetic", corpus, queries, cfg, (100, 1000))
    if args.json:
        atomic_write_json(args.json, {"config": {"backend": cfg.backend, "threads": cfg.n_threads},
                                      "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
