"""Cost of each ranker (``small`` preset), dense vs 90% global magnitude-pruned (all prunable weights,
embeddings included, no fine-tuning: costs do not depend on the weights' values, only on where the zeros are).

Per model: non-zero parameters, FLOPs per (query, document) pair for dense and for sparse execution (FLOPs = 2 x
MACs, at the preset's full lengths: query 16, document 96 tokens), size on disk (dense safetensors, the same file
zlib-compressed, the compressed sparse format) and CPU latency per query (``k`` candidates in one batch, fixed
threads) with dense kernels and with ``nn.Linear`` weights as torch sparse CSR.

    python benchmarks/bench_costs.py [--k 100] [--n-queries 5] [--repeats 2] [--threads 1] [--device cpu]
                                     [--models ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import torch

from irprune.config import from_mapping
from irprune.costs import CostsConfig, measure_costs
from irprune.io import atomic_write_json
from irprune.models import build_model, model_config
from irprune.pruning import prune_oneshot
from irprune.text import Vocab, WordPieceConfig, train_wordpiece

NAMES = ("monobert", "conv_knrm", "conformer_kernel")


def synthetic_queries(n: int, k: int, q_len: int, d_len: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    """``n`` queries with ``k`` candidates each, ``q_len`` / ``d_len`` words over a 2,000-word Zipf-ish vocabulary."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(2000)]
    weights = [1.0 / (i + 1) for i in range(len(words))]

    def text(m: int) -> str:
        return " ".join(rng.choices(words, weights, k=m))
    return [[(q, text(d_len)) for _ in range(k)] for q in (text(q_len) for _ in range(n))]


def fmt_bytes(n: float) -> str:
    return f"{n / 1024:,.0f} KiB" if n < 1024 ** 2 else f"{n / 1024 ** 2:,.2f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=100, help="candidates per query")
    ap.add_argument("--n-queries", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--models", nargs="+", default=list(NAMES), choices=list(NAMES))
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args()
    queries = synthetic_queries(args.n_queries, args.k, 16, 96)
    docs = [d for q in queries for _, d in q]
    vocab = Vocab.build(docs)
    texts: dict[str, Any] = {"conv_knrm": vocab, "conformer_kernel": vocab}
    if "monobert" in args.models:
        texts["monobert"] = train_wordpiece(docs, WordPieceConfig(vocab_size=3000))
    lat = {"k": args.k, "n_queries": args.n_queries, "warmup": args.warmup, "repeats": args.repeats,
           "threads": args.threads, "device": args.device}
    dense_cfg = from_mapping(CostsConfig, {"latency": {**lat, "sparse_kernels": False}})
    sparse_cfg = from_mapping(CostsConfig, {"latency": {**lat, "sparse_kernels": True}})
    print(f"k={args.k} queries={args.n_queries} repeats={args.repeats} threads={args.threads} device={args.device} "
          f"sparsity={args.sparsity} (global magnitude); FLOPs = 2 x MACs per pair at query 16 / doc 96 tokens")
    head = (f"{'model':<17}{'variant':<8}{'nonzero':>10}{'GFLOPs dense':>14}{'GFLOPs sparse':>15}"
            f"{'disk dense':>13}{'dense+zlib':>12}{'disk sparse':>13}{'ms/query':>10}{'p90':>8}{'ms CSR':>9}")
    print(head)
    rows = []
    for name in args.models:
        model = build_model(name, model_config(name, "small"), texts[name], seed=0).eval()
        for variant, cfg in (("dense", dense_cfg), (f"{args.sparsity:.0%}", sparse_cfg)):
            if variant != "dense":
                prune_oneshot(model, "magnitude", args.sparsity)
            r = measure_costs(model, cfg, queries)
            rows.append({"model": name, "variant": variant, **r})
            csr = f"{r['latency_csr_median_ms']:>9.1f}" if "latency_csr_median_ms" in r else f"{'-':>9}"
            print(f"{name:<17}{variant:<8}{r['nonzero_params']:>10,}{r['flops_dense'] / 1e9:>14.4f}"
                  f"{r['flops_sparse'] / 1e9:>15.4f}{fmt_bytes(r['size_dense_bytes']):>13}"
                  f"{fmt_bytes(r['size_dense_zlib_bytes']):>12}{fmt_bytes(r['size_sparse_bytes']):>13}"
                  f"{r['latency_median_ms']:>10.1f}{r['latency_p90_ms']:>8.1f}{csr}")
    if args.json:
        atomic_write_json(args.json, {"args": vars(args), "torch": torch.__version__, "rows": rows})


if __name__ == "__main__":
    main()
