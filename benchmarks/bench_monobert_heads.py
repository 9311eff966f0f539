"""Learning curve of the default monoBERT (checkpoint start) with one head / recipe, outside the pipeline.

Builds monoBERT from ``params.yaml``'s ``models.monobert`` with ``--set`` overrides (e.g. ``pooling=pooler``),
trains it on BM25 negatives of the collection in ``data/dataset`` (run ``dvc repro bm25`` first) with AdamW,
linear warm-up and decay and the model's own learning-rate groups (``head_lr_scale``), and prints the training
loss per 50 steps (``ln(1 + negatives)`` = uniform scores) and the dev MRR@10 of the first 100 judged dev queries
(BM25 top 30 re-ranked) every ``--eval-every`` steps.

    python benchmarks/bench_monobert_heads.py --set pooling=cedr head_lr_scale=10 --lr 1e-4 --steps 300
    python benchmarks/bench_monobert_heads.py --set pooling=pooler --lr 1e-4 --steps 200
"""

from __future__ import annotations

import argparse
import time

import torch
import yaml

from irprune import paths
from irprune.data.store import read_dataset
from irprune.evaluation import EvalConfig, evaluate
from irprune.models import build_model
from irprune.rerank import rerank
from irprune.runs import read_trec_run
from irprune.significance import compare
from irprune.training.sampling import batch_groups, batches_per_epoch, build_pool, group_pairs
from irprune.training.spec import parse_model_spec
from irprune.training.trainer import _param_groups, lr_lambda


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="models.monobert overrides")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--negatives", type=int, default=3, help="BM25 negatives per positive (from the top 20)")
    ap.add_argument("--random-negatives", type=int, default=0)
    ap.add_argument("--batch-queries", type=int, default=8)
    ap.add_argument("--dropout", type=float, default=None, help="override every dropout probability")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test", action="store_true",
                    help="at the end, re-rank the test split (BM25 top 30, rest kept) and t-test it against BM25")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    section = dict(yaml.safe_load(open("params.yaml"))["models"]["monobert"])
    for item in args.set:
        k, _, v = item.partition("=")
        section[k] = yaml.safe_load(v)
    model = build_model("monobert", parse_model_spec("monobert", section).config, None, seed=args.seed)
    if args.dropout is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = args.dropout
    ds = read_dataset(paths.DATASET)
    train, dev = ds.splits["train"], ds.splits["dev"]
    pool = build_pool(train.queries, train.qrels, read_trec_run(paths.bm25_run("train")), ds.corpus_for("train"),
                      depth=20)
    bm25_dev = read_trec_run(paths.bm25_run("dev"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(_param_groups(model, params, args.lr), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(args.steps, max(1, args.steps // 10)))
    qids = sorted(q for q in dev.qrels if dev.qrels[q])[:100]
    cfg = EvalConfig(metrics=("mrr@10",), relevance_level=2)

    def dev_mrr() -> float:
        run = rerank(model, {q: dev.queries[q] for q in qids}, ds.corpus, {q: bm25_dev[q] for q in qids}, depth=30)
        return evaluate({q: dev.qrels[q] for q in qids}, run, cfg).metrics()["mrr@10"]

    bm = evaluate({q: dev.qrels[q] for q in qids}, {q: dict(list(bm25_dev[q].items())[:30]) for q in qids}, cfg)
    print(f"BM25 on these queries: dev MRR@10 {bm.metrics()['mrr@10']:.3f}", flush=True)
    t0, losses = time.perf_counter(), []
    per_epoch = batches_per_epoch(pool, args.batch_queries)
    for step in range(args.steps):
        model.train()
        epoch, batch = divmod(step, per_epoch)
        groups = batch_groups(pool, args.negatives, args.batch_queries, args.seed, epoch, batch, args.random_negatives)
        scores = model(model.collate(group_pairs(pool, groups))).view(len(groups), -1)
        loss = torch.nn.functional.cross_entropy(scores, torch.zeros(len(groups), dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}: loss {sum(losses[-50:]) / 50:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if (step + 1) % args.eval_every == 0:
            print(f"  dev MRR@10 {dev_mrr():.3f}", flush=True)
    if args.test:
        test = ds.splits["test"]
        bm25_test = read_trec_run(paths.bm25_run("test"))
        run = rerank(model, test.queries, ds.corpus, bm25_test, depth=30, keep_rest=True)
        ours, base = evaluate(test.qrels, run, cfg), evaluate(test.qrels, bm25_test, cfg)
        c = compare(ours.per_query["mrr@10"], base.per_query["mrr@10"], test="t-test")
        print(f"test MRR@10 {c.mean_a:.3f} vs BM25 {c.mean_b:.3f} (n {c.n}, t-test p {c.p_value:.3g}; "
              f"{time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
