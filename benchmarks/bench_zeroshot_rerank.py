"""The registered checkpoint zero-shot as a bi-encoder re-ranker, against BM25, on the project's collection.

The checkpoint (all-MiniLM-L6-v2 by default; mean pooling, L2-normalised, as its model card specifies) re-ranks
the top ``--depth`` candidates of every judged query of the pooled ``--split``s (BM25's, or the hybrid lists of
``first_stage.method: hybrid``), the rest of the list kept below, the way the rankers are evaluated.  Prints nDCG@10 and MRR@10 at ``evaluation.relevance_level`` with a paired t-test
against BM25: the zero-shot floor a cross-encoder fine-tuned from the same checkpoint should not fall below.

    python benchmarks/bench_zeroshot_rerank.py [--split dev test] [--layers 6] [--doc-tokens 128]
    # after `dvc repro bm25` on the collection (any overlay in configs/)
"""

from __future__ import annotations

import argparse
import time

import torch

from irprune import paths, weights
from irprune.data.store import read_dataset
from irprune.dense.encoder import BiEncoder
from irprune.evaluation import EvalConfig, evaluate
from irprune.pipeline.bm25_stage import pooled_bm25, pooled_with_candidates
from irprune.runs import sort_ranking
from irprune.significance import compare
from irprune.stages import load_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", nargs="+", default=["test"], help="dataset split(s), pooled (test, dev)")
    ap.add_argument("--checkpoint", default="minilm-l6", help="a registered checkpoint (python -m irprune.weights)")
    ap.add_argument("--layers", type=int, default=None, help="keep the first n encoder layers (default: all)")
    ap.add_argument("--depth", type=int, default=30, help="candidates re-ranked (train.eval_depth; BM25 or hybrid)")
    ap.add_argument("--query-tokens", type=int, default=32)
    ap.add_argument("--doc-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    enc = BiEncoder.load(weights.resolve(args.checkpoint))
    if args.layers is not None:
        weights.check_keep_layers("--layers", args.layers, len(enc.doc.encoder.layer), args.checkpoint)
        enc.doc.encoder.layer = enc.doc.encoder.layer[: args.layers]
    ds = read_dataset(paths.DATASET)
    pooled, bm25 = pooled_with_candidates(ds, args.split)
    queries, qrels = pooled.queries, pooled.qrels
    qids = sorted(q for q in qrels if qrels[q])
    ranked = {q: [d for d, _ in sort_ranking(bm25.get(q, {}))] for q in qids}
    docs = sorted({d for q in qids for d in ranked[q][: args.depth]})
    t0 = time.perf_counter()
    dvec = enc.encode([ds.corpus[d] for d in docs], "doc", max_tokens=args.doc_tokens, label=False)
    qvec = enc.encode([queries[q] for q in qids], "query", max_tokens=args.query_tokens, label=False)
    seconds = time.perf_counter() - t0
    row = {d: i for i, d in enumerate(docs)}
    run: dict[str, dict[str, float]] = {}
    for j, q in enumerate(qids):
        top, rest = ranked[q][: args.depth], ranked[q][args.depth:]
        run[q] = {d: 2.0 + float(qvec[j] @ dvec[row[d]]) for d in top}     # cosines in [-1, 1], above the rest
        run[q].update({d: -float(i) for i, d in enumerate(rest)})
    level = load_stage("bm25", "params.yaml").evaluation.relevance_level
    cfg = EvalConfig(metrics=("ndcg@10", "mrr@10"), relevance_level=level)
    ours, base = evaluate(qrels, run, cfg), evaluate(qrels, pooled_bm25(args.split), cfg)
    layers = args.layers or len(enc.doc.encoder.layer)
    print(f"{args.checkpoint} ({layers} layers) zero-shot on {'+'.join(args.split)}: {len(qids)} judged queries, "
          f"{len(docs)} passages encoded in {seconds:.0f} s, relevance level {level}")
    for metric in ("ndcg@10", "mrr@10"):
        c = compare(ours.per_query[metric], base.per_query[metric])
        print(f"  {metric}: bi-encoder {c.mean_a:.4f}  BM25 {c.mean_b:.4f}  paired t-test p = {c.p_value:.3g}")


if __name__ == "__main__":
    main()
