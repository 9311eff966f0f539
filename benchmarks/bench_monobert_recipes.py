"""Learning curves of monoBERT fine-tuning recipes on the default collection (the issue-3 investigation).

The from-scratch monoBERT of the default study does not leave the uniform-score plateau within the CPU budget
(its test MRR@10 is below BM25's).  This script fine-tunes it with one recipe, outside the pipeline, and prints
the training loss averaged over blocks of 50 steps (``ln(1 + negatives)`` = uniform scores) and the dev MRR@10
on the first ``--eval-queries`` dev queries (BM25 top-30 re-ranked) every quarter of the run, so a recipe can be
judged in minutes.  Needs ``dvc repro pretrain`` (tokenizer and MLM checkpoint) to have run.

    python benchmarks/bench_monobert_recipes.py --lr 5e-4 --steps 1200 --random-negatives 2
    python benchmarks/bench_monobert_recipes.py --from-scratch --lr 3e-4 --steps 300
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--negatives", type=int, default=3, help="BM25 negatives per positive")
    ap.add_argument("--random-negatives", type=int, default=0, help="extra random (easy) negatives")
    ap.add_argument("--batch-queries", type=int, default=16)
    ap.add_argument("--loss", default="listwise")
    ap.add_argument("--from-scratch", action="store_true", help="ignore the MLM checkpoint (tokenizer only)")
    ap.add_argument("--eval-queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the curves here")
    args = ap.parse_args()

    import torch

    from irprune import paths
    from irprune.data.store import read_dataset
    from irprune.evaluation import EvalConfig
    from irprune.models import build_model
    from irprune.runs import read_trec_run
    from irprune.text import load_tokenizer
    from irprune.training import DevEvaluator, Trainer, build_pool
    from irprune.training.config import TrainConfig
    from irprune.training.spec import parse_model_spec

    torch.set_num_threads(args.threads)
    ds = read_dataset(paths.DATASET)
    bm25 = {s: read_trec_run(paths.bm25_run(s)) for s in ("train", "dev")}
    if args.from_scratch:
        spec = parse_model_spec("monobert", {"preset": "small"})
        model = build_model("monobert", spec.config, load_tokenizer(paths.PRETRAIN_TOKENIZER), seed=0)
    else:
        spec = parse_model_spec("monobert", {"preset": "small", "pretrained": str(paths.PRETRAIN_MLM)})
        model = build_model("monobert", spec.config, None, seed=0)
    train, dev = ds.splits["train"], ds.splits["dev"]
    pool = build_pool(train.queries, train.qrels, bm25["train"], ds.corpus, depth=20)
    ev = DevEvaluator(dev.queries, dev.qrels, ds.corpus, bm25["dev"],
                      EvalConfig(metrics=("mrr@10",), relevance_level=2), "mrr@10", depth=30,
                      n_queries=args.eval_queries, batch_size=256)
    cfg = TrainConfig(loss=args.loss, negatives=args.negatives, negative_depth=20,
                      random_negatives=args.random_negatives, batch_queries=args.batch_queries, epochs=100,
                      max_steps=args.steps, lr=args.lr, eval_every=max(args.steps // 4, 1), progress=False, seed=0)
    t0 = time.perf_counter()
    res = Trainer(model, cfg, pool, evaluator=ev).fit()
    losses = res.losses
    blocks = [round(sum(losses[i:i + 50]) / len(losses[i:i + 50]), 3) for i in range(0, len(losses), 50)]
    curve = [(e["step"], round(e["dev"]["mrr@10"], 3)) for e in res.evaluations]
    out = {"recipe": vars(args), "seconds": round(time.perf_counter() - t0, 1), "loss_per_50_steps": blocks,
           "dev_mrr@10": curve}
    print(json.dumps(out))
    if args.json:
        from irprune.io import atomic_write_json

        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
