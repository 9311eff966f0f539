"""PQ, OPQ and JPQ (started from OPQ) over quantizer seeds: how large the seed-to-seed spread of each index is
against the differences between them.

In a project where the ``dense`` stage ran, loads its document vectors and fine-tuned query encoder
(``models/dense/``) and, per ``--seeds`` and per ``dense.pq.m``, builds the stage's indexes with the stage's own
functions and ``params.yaml`` (``train_pq`` and ``train_opq`` with ``dense.pq.seed`` replaced, ``train_jpq`` with
``dense.jpq.seed`` replaced, selected on dev as in the stage), then prints test MRR@10 of each, JPQ's share of the
flat index and the paired t-test of JPQ against PQ.  Seed 0 repeats the stage's own indexes.

    python benchmarks/bench_pq_seeds.py --seeds 1 2 [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import numpy as np

from irprune import paths
from irprune.config import from_mapping, load_params
from irprune.data.store import read_dataset
from irprune.dense import index as ix
from irprune.dense.config import DenseConfig
from irprune.dense.encoder import BiEncoder
from irprune.dense.jpq import train_jpq
from irprune.dense.train import training_pairs
from irprune.evaluation import EvalConfig, evaluate
from irprune.io import read_json
from irprune.pipeline.dense_prune_stage import load_trained_encoder
from irprune.pipeline.dense_stage import DOC_IDS, DOC_VECTORS, Scorer, dev_metric, set_threads
from irprune.significance import SignificanceConfig, compare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=0, help="torch and faiss threads (0 = dense.threads)")
    args = ap.parse_args()
    params = load_params()
    c = from_mapping(DenseConfig, params["dense"])
    ecfg = from_mapping(EvalConfig, params["evaluation"])
    scfg = from_mapping(SignificanceConfig, params["significance"])
    set_threads(args.threads or c.threads)
    ds = read_dataset(paths.DATASET)
    docs, doc_ids = np.load(DOC_VECTORS), read_json(DOC_IDS)
    enc = load_trained_encoder(c)
    tr = ds.split("train")
    pairs = training_pairs(tr.queries, tr.qrels, None, {d: i for i, d in enumerate(doc_ids)}, 1)
    dev_f = dev_metric(ds, doc_ids, c, ecfg)
    test = ds.split("test")
    qids = sorted(test.queries)

    def test_mrr(e: BiEncoder, index) -> dict[str, float]:
        q = e.encode([test.queries[k] for k in qids], "query", max_tokens=c.query_max_tokens, batch_size=128,
                     label=False)
        r = evaluate(test.qrels, ix.search(index, q, qids, doc_ids, c.depth), ecfg)
        return r.per_query["mrr@10"]

    flat = float(np.mean(list(test_mrr(enc, ix.flat_index(docs)).values())))
    print(f"flat index: test MRR@10 {flat:.4f}; {len(pairs)} training queries; M in {list(c.pq.m)}")
    for seed in args.seeds:
        for m in c.pq.m:
            t0 = time.perf_counter()
            pq = ix.train_pq(docs, m, c.pq.nbits, seed)
            opq = ix.train_opq(docs, m, c.pq.nbits, seed, c.pq.opq_iters)
            rot, book = ix.rotation(opq), ix.pq_codebook(opq)
            jenc = BiEncoder(enc.tokenizer, copy.deepcopy(enc.query), enc.doc, enc.normalize)
            jr = train_jpq(jenc, book, pairs, dataclasses.replace(c.jpq, seed=seed),
                           lambda e, cent: dev_f(e, Scorer(docs, cent, book.codes, rotation=rot)),
                           query_max_tokens=c.query_max_tokens, label=f"jpq M={m} seed {seed}", rotation=rot)
            jidx = ix.copy_index(opq)
            ix.set_centroids(jidx, jr.centroids)
            a, b, j = test_mrr(enc, pq), test_mrr(enc, opq), test_mrr(jenc, jidx)
            cmp = compare(j, a, cfg=scfg)
            mean = {k: float(np.mean(list(v.values()))) for k, v in (("pq", a), ("opq", b), ("jpq", j))}
            print(f"seed {seed} M={m} ({ix.compression_for(docs.shape[1], m, c.pq.nbits):.0f}x): "
                  f"PQ {mean['pq']:.4f}  OPQ {mean['opq']:.4f}  JPQ {mean['jpq']:.4f} "
                  f"({mean['jpq'] / flat:.1%} of flat; step {jr.best_step})  "
                  f"JPQ - PQ {cmp.mean_diff:+.4f} (p = {cmp.p_value:.3f})  "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
