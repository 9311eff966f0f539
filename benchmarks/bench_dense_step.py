"""The cost of one both-sides fine-tuning step's document side: the batch's candidate documents encoded with
gradients and back-propagated, as one batch padded to its longest document or in length-sorted groups
(``BiEncoder.embed_grouped``, what ``finetune_query_encoder`` does).

Draws ``--batches`` random candidate sets of ``dense.train.batch_size * (1 + dense.train.negatives)`` documents
of the dataset (``data/dataset``, so after ``dvc repro data``) and times each setting on every set in turn
(interleaved, so drift hits all alike), with the checkpoint of ``params.yaml: dense`` and ``dense.threads``.
Prints the median seconds per step of each setting, its ratio to the padded batch, and the largest difference
between the padded and grouped vectors of the first set.

    python benchmarks/bench_dense_step.py [--batches 8] [--groups 8 16 32]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Callable

import numpy as np
import torch

from irprune import paths
from irprune.config import from_mapping, load_params
from irprune.data.store import read_dataset
from irprune.dense.config import DenseConfig
from irprune.dense.encoder import embed
from irprune.pipeline.dense_stage import load_encoder, set_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--groups", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    c = from_mapping(DenseConfig, load_params()["dense"])
    set_threads(c.threads)
    texts = list(read_dataset(paths.DATASET).corpus.values())
    enc = load_encoder(c)
    model = enc.doc
    model.train()
    n = c.train.batch_size * (1 + c.train.negatives)
    rng = random.Random(args.seed)
    sets = [[texts[i] for i in rng.sample(range(len(texts)), n)] for _ in range(args.batches)]
    lengths = [len(x) for x in enc.tokenizer(sets[0], truncation=True, max_length=c.doc_max_tokens)["input_ids"]]

    def padded(batch: list[str]) -> torch.Tensor:
        t = enc.tokenize(batch, c.doc_max_tokens)
        return embed(model, t["input_ids"], t["attention_mask"], enc.normalize)

    settings: dict[str, Callable[[list[str]], torch.Tensor]] = {"padded": padded}
    for g in args.groups:
        settings[f"groups of {g}"] = lambda b, g=g: enc.embed_grouped(model, b, c.doc_max_tokens, g)
    with torch.no_grad():
        model.eval()
        diff = max(float((padded(sets[0]) - f(sets[0])).abs().max()) for f in settings.values())
        model.train()
    times: dict[str, list[float]] = {k: [] for k in settings}
    for batch in sets:
        for name, f in settings.items():
            t0 = time.perf_counter()
            f(batch).sum().backward()
            model.zero_grad(set_to_none=True)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["padded"])
    print(f"{n} documents a step, {c.doc_max_tokens} tokens at most (first set: mean {np.mean(lengths):.1f}, "
          f"longest {max(lengths)}), {c.threads} threads, {args.batches} steps each, interleaved")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name:>14}: {m:.3f} s a step (median), {base / m:.2f}x the padded batch's speed")
    print(f"largest |padded - grouped| vector entry (eval mode): {diff:.2e}")


if __name__ == "__main__":
    main()
