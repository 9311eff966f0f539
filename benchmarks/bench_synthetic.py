"""Benchmark and calibration report of the synthetic default collection (``irprune.data.synthetic``).

Prints the generation time, the sizes, and BM25 / random / oracle effectiveness on dev and test at the default
size (or with ``--set key=value`` overrides), cross-checking MRR@10 and nDCG@10 against ``ranx``.

    python benchmarks/bench_synthetic.py [--set n_docs=2000 ...] [--repeat 3] [--json out.json] [--no-ranx]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter

import yaml

from irprune.config import from_mapping, to_mapping
from irprune.data.synthetic import SyntheticConfig, generate_with_truth
from irprune.data.synthetic_calibration import calibrate
from irprune.io import atomic_write_json


def _overrides(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--set expects key=value, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def _ranx_check(ds, runs, split: str) -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    qrels = ds.splits[split].qrels
    run = Run({q: {d: float(len(docs) - i) for i, d in enumerate(docs)} or {"_none": 0.0}
               for q, docs in runs["bm25"].items()})
    rel2 = Qrels({q: {d: v for d, v in lab.items() if v >= 2} for q, lab in qrels.items()})
    graded = Qrels({q: {d: v for d, v in lab.items() if v > 0} for q, lab in qrels.items()})
    return {"ranx_bm25_mrr10": float(evaluate(rel2, run, "mrr@10")),
            "ranx_bm25_ndcg10": float(evaluate(graded, run, "ndcg@10"))}


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="SyntheticConfig overrides")
    ap.add_argument("--repeat", type=int, default=3, help="generation timings to take (the median is shown)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    ap.add_argument("--no-ranx", action="store_true", help="skip the ranx cross-check (slow first import)")
    args = ap.parse_args(argv)
    cfg = from_mapping(SyntheticConfig, _overrides(args.set))

    wall, cpu = [], []
    for _ in range(max(1, args.repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        ds, truth = generate_with_truth(cfg)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    doc_len = [len(t.split()) for t in ds.corpus.values()]
    q_len = [len(t.split()) for s in ds.splits.values() for t in s.queries.values()]
    vocab = Counter(t for x in ds.corpus.values() for t in x.split())
    out: dict[str, object] = {
        "config": to_mapping(cfg),
        "generation_wall_s_median": statistics.median(wall), "generation_cpu_s_median": statistics.median(cpu),
        "n_docs": len(ds.corpus), "n_queries": {k: len(v.queries) for k, v in ds.splits.items()},
        "doc_len_mean": statistics.mean(doc_len), "doc_len_min": min(doc_len), "doc_len_max": max(doc_len),
        "query_len_mean": statistics.mean(q_len), "query_len_min": min(q_len), "query_len_max": max(q_len),
        "vocabulary": len(vocab), "tokens": sum(vocab.values()),
        "n_world_facts": ds.meta["n_world_facts"], "mean_hard_distractors": ds.meta["mean_hard_distractors"],
        "train_positives_per_query": statistics.mean(len(v) for v in ds.splits["train"].qrels.values()),
    }
    print(f"synthetic collection, seed {cfg.seed}: generated in {out['generation_wall_s_median']:.2f} s wall, "
          f"{out['generation_cpu_s_median']:.2f} s CPU (median of {len(wall)})")
    print(f"  {len(ds.corpus)} passages, {out['tokens']} tokens, vocabulary {out['vocabulary']}; passage length "
          f"mean {out['doc_len_mean']:.1f} [{out['doc_len_min']}, {out['doc_len_max']}]")
    print(f"  queries {out['n_queries']}, length mean {out['query_len_mean']:.2f} "
          f"[{out['query_len_min']}, {out['query_len_max']}]; train positives/query "
          f"{out['train_positives_per_query']:.2f}; hard distractors/query {out['mean_hard_distractors']:.2f}")
    for split in ("dev", "test"):
        labels = Counter(v for lab in ds.splits[split].qrels.values() for v in lab.values())
        t0 = time.perf_counter()
        m, runs = calibrate(ds, truth, split)
        if not args.no_ranx:
            m.update(_ranx_check(ds, runs, split))
        out[split] = {"labels": {str(k): labels[k] for k in sorted(labels)}, "calibration_s":
                      time.perf_counter() - t0, **m}
        print(f"\n{split}: labels per grade {dict(sorted(labels.items()))} (MRR and recall count rel >= 2)")
        print(f"  {'ranker':38s} {'MRR@10':>7s} {'nDCG@10':>8s}")
        for name, desc in (("bm25", "BM25 (bm25s, k1=0.9 b=0.4)"),
                           ("surface_order", "BM25 top-100 + ordered windows"),
                           ("concept_bm25", "oracle: BM25 over concept ids"),
                           ("unordered_oracle", "oracle: concepts + unordered windows"),
                           ("order_oracle", "oracle: concepts + ordered windows")):
            print(f"  {desc:38s} {m[name + '_mrr10']:7.3f} {m[name + '_ndcg10']:8.3f}")
        print(f"  {'random ranking of the corpus':38s} {m['random_mrr10']:7.4f}")
        print(f"  {'random shuffle of BM25 top-100':38s} {m['random_rerank_mrr10']:7.3f}")
        print(f"  BM25 recall@10/50/100 {m['bm25_r10']:.3f}/{m['bm25_r50']:.3f}/{m['bm25_r100']:.3f}, "
              f"a relevant passage in the top 100: {m['bm25_s100']:.3f}; concept-BM25 recall@100 "
              f"{m['concept_bm25_r100']:.3f}")
        if not args.no_ranx:
            print(f"  ranx cross-check: MRR@10 {m['ranx_bm25_mrr10']:.3f}, nDCG@10 {m['ranx_bm25_ndcg10']:.3f}")
    if args.json:
        atomic_write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
