"""What "sparsity" covers for each ranker as ``params.yaml`` builds it: prunable tensors, their share of all
parameters and the share of all parameters that is zero after one-shot magnitude pruning to each sparsity.

Each model is built as ``train@<model>`` builds it (the dataset's word vocabulary for the kernel models, the
registered checkpoint for monoBERT), untrained: the counts depend on shapes, not values (word-vector files are
not read: the embedding matrix has the same shape either way).  The prunable set is ``prune.include`` /
``prune.exclude`` with ``prune.models.<ranker>`` applied; the counts are
:func:`irprune.pruning.sparsity.sparsity_columns`', as every results row has them.

    python benchmarks/bench_prunable.py [--dataset data/dataset] [--sparsities 0.5 0.9] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from irprune import paths
from irprune.config import load_params
from irprune.data.store import read_dataset
from irprune.io import atomic_write_json
from irprune.models import build_model
from irprune.pipeline.train_stage import build_text
from irprune.pruning import fold, prunable_parameters, prune_oneshot
from irprune.pruning.sparsity import sparsity_columns
from irprune.stages import load_stage


def measure(params: str, dataset: Path, sparsities: list[float]) -> list[dict[str, Any]]:
    corpus = read_dataset(dataset).corpus
    base_cfg = load_stage("prune", params, item={"model": "conv_knrm"}).prune
    out = []
    for name in load_params(params)["rankers"]:
        spec = load_stage("train", params, item={"model": name, "seed": 0}).model
        if hasattr(spec.config, "embeddings_path"):
            spec = dataclasses.replace(spec, config=dataclasses.replace(spec.config, embeddings_path=None))
        cfg, text = build_text(spec, corpus)
        prune_cfg = base_cfg.for_model(name)          # prune.models.<name> applied (monoBERT: embeddings too)
        for s in sparsities:
            model = build_model(name, cfg, text, seed=0)
            prunable = prunable_parameters(model, prune_cfg.include, prune_cfg.exclude)
            prune_oneshot(model, "magnitude", s, scope=prune_cfg.scope, prunable=prunable)
            fold(model)
            cols = sparsity_columns(model, prunable)
            share = cols["prunable_params"] / cols["total_params"]
            out.append({"model": name, "target_sparsity": s, **cols, "prunable_share": share})
            print(f"{name:17s} {s:.2f}  prunable {cols['prunable_params']:>10,d} ({cols['prunable_kinds']}) of "
                  f"{cols['total_params']:>11,d} = {share:6.2%}; frozen {cols['frozen_params']:>11,d}; zero: "
                  f"prunable {cols['sparsity_prunable']:.4f}, all {cols['sparsity_all']:.4f}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--dataset", type=Path, default=paths.DATASET)
    ap.add_argument("--sparsities", type=float, nargs="+", default=[0.5, 0.9])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = measure(args.params, args.dataset, args.sparsities)
    if args.json:
        atomic_write_json(args.json, rows)


if __name__ == "__main__":
    main()
