"""Where the trained default monoBERT's score comes from, and whether it needs the weights that pruning removes.

A metric (default MRR@10; ``--split`` and ``--metric`` choose, the relevance level is ``evaluation.relevance_level``)
over all queries of a split (BM25's top 30 re-ranked and the rest kept, one thread) of the trained
``models/monobert-s<seed>``:

* with parts of its CEDR head zeroed: the kernel block over layer 0 (the embedding output, never pruned), every
  other kernel block, the PACRR match (``cedr_match: pacrr`` or ``both``), the ``[CLS]`` classifier;
* with the bi-encoder prior (``biencoder_prior``) alone, or without it;
* after one-shot pruning of its prunable weights (``prune.include`` minus ``prune.exclude`` and the model's
  ``never_pruned`` heads) by magnitude and at random, with no recovery fine-tuning at all.

    python benchmarks/bench_monobert_ablation.py [--seed 0] [--sparsities 0.5 0.9] [--split test [dev]] [--metric mrr@10]
    # several splits are pooled (a k-fold overlay's dev + test = every judged query); p = paired t-test vs BM25
    # after dvc repro train@monobert-0 (on a k-fold overlay: train@monobert-0 of the fold in params)
"""

from __future__ import annotations

import argparse
import copy
from typing import Callable

import torch
from torch import nn

from irprune import paths
from irprune.data.store import read_dataset
from irprune.evaluation import EvalConfig, evaluate
from irprune.models import load_checkpoint
from irprune.pipeline.bm25_stage import pooled_bm25, pooled_with_candidates
from irprune.pruning import fold, prunable_parameters, prune_oneshot
from irprune.rerank import rerank
from irprune.significance import compare
from irprune.stages import load_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="training seed of the dense model")
    ap.add_argument("--sparsities", nargs="*", type=float, default=[0.5, 0.9])
    ap.add_argument("--split", nargs="+", default=["test"], help="the dataset split(s) evaluated, pooled (test, dev)")
    ap.add_argument("--metric", default="mrr@10", help="a metric name as in evaluation.metrics (mrr@10, ndcg@10)")
    ap.add_argument("--no-heads", action="store_true", help="skip the head ablations (full model and pruning only)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = load_checkpoint(paths.model_dir(paths.trained("monobert", args.seed)), expect="monobert").eval()
    stage = load_stage("prune", "params.yaml", item={"model": "monobert"})
    prune_cfg = stage.prune.for_model("monobert")       # with prune.models.monobert applied
    ds = read_dataset(paths.DATASET)
    pooled, bm25 = pooled_with_candidates(ds, args.split)
    queries, qrels = pooled.queries, pooled.qrels
    where = "+".join(args.split)
    cfg = EvalConfig(metrics=(args.metric,), relevance_level=stage.evaluation.relevance_level)
    base = evaluate(qrels, pooled_bm25(args.split), cfg)

    def variant(name: str, change: Callable[[nn.Module], None]) -> None:
        m = copy.deepcopy(net)
        change(m)
        with torch.inference_mode():
            run = rerank(m, queries, ds.corpus, bm25, depth=30, keep_rest=True)
        res = evaluate(qrels, run, cfg)
        p = compare(res.per_query[args.metric], base.per_query[args.metric]).p_value
        print(f"{name:<58} {where} {args.metric} {res.metrics()[args.metric]:.4f}  (p vs BM25 {p:.3g})", flush=True)

    has_knrm, has_pacrr = hasattr(net, "kernel_head"), hasattr(net, "pacrr_head")
    k = net.kernels.n_kernels if has_knrm else 0
    blocks = net.kernel_head.weight.shape[1] // k if has_knrm else 0

    def zero(which: range | list[int], cls: bool = False, pacrr: bool = False) -> Callable[[nn.Module], None]:
        def change(m: nn.Module) -> None:
            with torch.no_grad():
                for b in which:
                    m.kernel_head.weight[0, b * k:(b + 1) * k] = 0
                if cls:
                    m.bert.classifier.weight.zero_()
                if pacrr:                       # the PACRR scorer's last layer: its match adds nothing
                    m.pacrr_head[-1].weight.zero_()
        return change

    def no_prior(m: nn.Module) -> None:
        with torch.no_grad():
            m.prior_scale.zero_()

    def pruned(method: str, sparsity: float) -> Callable[[nn.Module], None]:
        def change(m: nn.Module) -> None:
            prune_oneshot(m, method, sparsity, prunable=prunable_parameters(m, prune_cfg.include, prune_cfg.exclude))
            fold(m)
        return change

    print(f"BM25 {where} {args.metric} {base.metrics()[args.metric]:.4f} over {base.metrics()['num_queries']} "
          "queries", flush=True)
    variant("full", lambda m: None)
    if not args.no_heads and net.cfg.biencoder_prior:
        variant("the bi-encoder prior alone", zero(range(blocks), cls=True))
        variant("without the bi-encoder prior", no_prior)
    if not args.no_heads and has_knrm:
        if net.cfg.cedr_embedding_kernels:       # block 0 pools the embedding output
            variant("without the layer-0 kernel block", zero([0], pacrr=has_pacrr))
            variant("the layer-0 kernel block alone", zero(range(1, blocks), cls=True, pacrr=has_pacrr))
    if not args.no_heads and has_pacrr:
        variant("the PACRR match alone", zero(range(blocks), cls=True))
    if not args.no_heads and (has_knrm or has_pacrr):
        variant("the [CLS] classifier alone", zero(range(blocks), pacrr=has_pacrr))
    for sparsity in args.sparsities:
        for method in ("magnitude", "random"):
            variant(f"{method} {sparsity:.0%}, one-shot, no recovery", pruned(method, sparsity))


if __name__ == "__main__":
    main()
