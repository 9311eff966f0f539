"""CPU cost of the default monoBERT: training-step time and re-ranking throughput.

Builds monoBERT exactly as ``train@monobert`` does (``params.yaml``'s ``models.monobert`` merged over its preset,
the checkpoint loaded through :mod:`irprune.weights`), takes real pairs of the collection in ``data/dataset`` and
its BM25 candidates (run ``dvc repro bm25`` first), and times (median of ``--repeats`` after one warm-up):

* one optimizer step: ``batch_queries`` groups of one positive and ``negatives`` BM25 negatives, forward,
  backward and AdamW (what training and every pruning cell's recovery repeat);
* re-ranking: pairs per second through :func:`irprune.rerank.score_pairs` (length-sorted batches of
  ``batch_size_eval``), and the resulting seconds to re-rank the test split at the BM25 depth.

    python benchmarks/bench_monobert_cost.py [--set keep_layers=3 freeze_embeddings=true] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import yaml

from irprune import paths
from irprune.data.store import read_dataset
from irprune.models import build_model
from irprune.rerank import candidate_lists, score_pairs
from irprune.runs import read_trec_run
from irprune.training.sampling import batch_groups, build_pool, group_pairs
from irprune.config import from_mapping
from irprune.training.config import TrainConfig
from irprune.training.spec import parse_model_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="models.monobert overrides")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=2000, help="pairs to re-rank for the throughput")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = yaml.safe_load(Path("params.yaml").read_text())
    section = dict(params["models"]["monobert"])
    for item in args.set:
        k, _, v = item.partition("=")
        section[k] = yaml.safe_load(v)
    spec = parse_model_spec("monobert", section)
    tcfg = spec.train_config(from_mapping(TrainConfig, params["train"], prefix="train"))
    model = build_model("monobert", spec.config, None, seed=0)
    ds = read_dataset(paths.DATASET)
    bm25 = {s: read_trec_run(paths.bm25_run(s)) for s in ("train", "test")}
    train = ds.splits["train"]
    pool = build_pool(train.queries, train.qrels, bm25["train"], ds.corpus, depth=tcfg.negative_depth)
    params_all = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params_all, lr=tcfg.lr)
    model.train()
    times = []
    for i in range(args.repeats + 1):
        groups = batch_groups(pool, tcfg.negatives, tcfg.batch_queries, 0, 0, i, tcfg.random_negatives)
        pairs = group_pairs(pool, groups)
        t0 = time.perf_counter()
        batch = model.collate(pairs)
        scores = model(batch).view(tcfg.batch_queries, -1)
        loss = torch.nn.functional.cross_entropy(scores, torch.zeros(len(scores), dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    model.eval()
    test = ds.splits["test"]
    lists = candidate_lists(bm25["test"], None)
    all_pairs = [(test.queries[q], ds.corpus[d]) for q, docs in lists.items() for d in docs]
    sample = all_pairs[: args.pairs]
    score_pairs(model, sample[:64], batch_size=tcfg.batch_size_eval)
    t0 = time.perf_counter()
    score_pairs(model, sample, batch_size=tcfg.batch_size_eval)
    rate = len(sample) / (time.perf_counter() - t0)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"monoBERT {section.get('pretrained')} layers={model.bert.config.num_hidden_layers} "
          f"freeze_embeddings={spec.config.freeze_embeddings} threads={torch.get_num_threads()} "
          f"params={n_params / 1e6:.1f}M trainable={sum(p.numel() for p in params_all) / 1e6:.1f}M")
    print(f"  train step ({tcfg.batch_queries} queries x {1 + tcfg.negatives} passages): {step:.3f} s "
          f"(median of {len(times)}); {tcfg.max_steps} steps = {step * tcfg.max_steps / 60:.1f} min")
    print(f"  re-ranking: {rate:.0f} pairs/s; test split at BM25 depth ({len(all_pairs)} pairs) = "
          f"{len(all_pairs) / rate:.0f} s")


if __name__ == "__main__":
    main()
