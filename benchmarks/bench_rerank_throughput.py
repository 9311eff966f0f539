"""Re-ranking throughput (pairs/second) of each model at its ``small`` default config.

Batch 64, query length 16, document length 96 (tokens), inference mode, seeded synthetic text whose queries and
documents fill those lengths.  Reports the model's forward time alone and collate + forward.

    python benchmarks/bench_rerank_throughput.py [--device auto|cpu|cuda] [--batches 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import torch

from irprune.io import atomic_write_json
from irprune.models import autocast, build_model, model_config, move_batch, select_device
from irprune.text import Vocab, WordPieceConfig, train_wordpiece

NAMES = ("monobert", "conv_knrm", "conformer_kernel")


def synthetic_pairs(n: int, q_len: int, d_len: int, seed: int = 0) -> tuple[list[tuple[str, str]], list[str]]:
    """``n`` (query, doc) pairs of ``q_len`` / ``d_len`` words over a 2,000-word Zipf-ish vocabulary."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(2000)]
    weights = [1.0 / (i + 1) for i in range(len(words))]
    def text(k: int) -> str:
        return " ".join(rng.choices(words, weights, k=k))
    docs = [text(d_len) for _ in range(n)]
    return [(text(q_len), d) for d in docs], docs


def bench(name: str, text: Any, pairs: list[tuple[str, str]], device: torch.device, batch_size: int,
          batches: int, q_len: int, d_len: int) -> dict[str, float]:
    model = build_model(name, model_config(name, "small"), text, seed=0).to(device).eval()
    chunks = [pairs[i: i + batch_size] for i in range(0, batch_size * batches, batch_size)]
    collated = [model.collate(c, q_len, d_len) for c in chunks[:2]]
    with torch.inference_mode(), autocast(device):
        for b in collated:                                           # warm-up
            model(move_batch(b, device))
        if device.type == "cuda":
            torch.cuda.synchronize()
        t_collate = t_model = 0.0
        for c in chunks:
            t0 = time.perf_counter()
            b = move_batch(model.collate(c, q_len, d_len), device)
            t1 = time.perf_counter()
            model(b)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            t_collate += t1 - t0
            t_model += t2 - t1
    n = batch_size * len(chunks)
    return {"params": model.n_parameters(), "model_pairs_per_s": n / t_model,
            "end_to_end_pairs_per_s": n / (t_model + t_collate)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--query-len", type=int, default=16)
    ap.add_argument("--doc-len", type=int, default=96)
    ap.add_argument("--models", nargs="+", default=list(NAMES), choices=list(NAMES))
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads (0 = torch's default); use 1 on a busy machine, where OpenMP "
                         "threads waiting on each other can make element-wise ops 100x slower")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    pairs, docs = synthetic_pairs(args.batch_size * args.batches, args.query_len, args.doc_len)
    vocab = Vocab.build(docs)
    texts = {"conv_knrm": vocab, "conformer_kernel": vocab}
    if "monobert" in args.models:
        texts["monobert"] = train_wordpiece(docs, WordPieceConfig(vocab_size=3000))
    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch_size} "
          f"query_len={args.query_len} doc_len={args.doc_len} batches={args.batches}")
    print(f"{'model':<18}{'params':>12}{'model pairs/s':>16}{'+collate pairs/s':>19}")
    results = {}
    for name in args.models:
        r = bench(name, texts[name], pairs, device, args.batch_size, args.batches, args.query_len, args.doc_len)
        results[name] = r
        print(f"{name:<18}{r['params']:>12,}{r['model_pairs_per_s']:>16,.0f}{r['end_to_end_pairs_per_s']:>19,.0f}")
    if args.json:
        atomic_write_json(args.json, {"device": str(device), "threads": torch.get_num_threads(),
                                      "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
