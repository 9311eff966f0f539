"""Fingerprints of the GMP-scheduled cells on the unit tests' tiny setups: one JSON line per cell with the final
mask's and weights' SHA-256 (first 16 hex digits), the achieved sparsity, the steps of the mask updates and the
task's metric.  Run it against two commits to see which cells' numbers a change moves:

    python benchmarks/bench_gmp_cells.py > after.json
    git worktree add /tmp/old REV && PYTHONPATH=/tmp/old/lib python benchmarks/bench_gmp_cells.py \\
        --tests /tmp/old/tests > before.json

Cells: the ranking adapter's gmp, movement and magnitude (tests/test_cell_layer.py), the classification,
translation and vision adapters' gmp (same file), the classification transformer's gmp at 50/80/90%
(tests/test_tasks_cells.py) and the bi-encoder's query encoder, magnitude and gmp (tests/test_dense.py).  One torch
thread; seconds on a laptop.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:16]


def _cell(cell) -> dict:
    mask = cell.mask if cell.mask is not None else cell.installed()
    return {"mask": _digest(dict(mask.items())), "weights": _digest(cell.model.state_dict()),
            "sparsity": round(float(mask.sparsity), 6), "updates_at": [e.get("step") for e in cell.log.entries]}


def cells() -> dict[str, dict]:
    import test_cell_layer as layer
    import test_tasks_cells as tcells
    from irprune.pruning import GMPSchedule, plain_state_dict
    from irprune.pruning.driver import run_method
    from irprune.tasks import run_cell
    from irprune.tasks.cell import TaskCell, TaskPruningConfig

    out: dict[str, dict] = {}
    for method in ("gmp", "movement", "magnitude"):
        task, cell = layer._ranking(method)
        out[f"ranking-{method}"] = {**_cell(cell), "mrr@10": task.evaluate()["test"]["mrr@10"]}
    for family in ("classification", "translation", "vision"):
        bundle, name = layer._bundle(family)
        torch.manual_seed(0)
        pcfg = TaskPruningConfig(synflow_rounds=3, score_batches=1, gmp=GMPSchedule(updates=2))
        task = TaskCell(bundle, bundle.build_model(name, 0), pcfg, 0, epochs=1)
        cell = run_method(task, "gmp", layer.TARGET, 0)
        out[f"{family}-gmp"] = {**_cell(cell), "steps": task.train_steps(),
                                bundle.primary_metric: task.evaluate()[bundle.primary_metric]}
    bundle = tcells._cls_task()
    state = plain_state_dict(run_cell(bundle, "transformer", "dense", 0.0, 0).model)
    for sparsity in (0.5, 0.8, 0.9):
        res = run_cell(bundle, "transformer", "gmp", sparsity, 0, dense_state=state)
        out[f"classification-transformer-gmp-{sparsity}"] = {
            "weights": _digest(res.model.state_dict()), "steps": res.record["steps"],
            **{k: res.record[k] for k in ("achieved_sparsity", "accuracy")}}
    out.update(query_encoder())
    return out


def query_encoder() -> dict[str, dict]:
    from test_dense import _pairs, tiny_corpus, tiny_encoder

    from irprune.dense import index as ix
    from irprune.dense.config import DensePruneConfig, DenseTrainConfig
    from irprune.dense.prune import prune_query_encoder

    out = {}
    for method in ("magnitude", "gmp"):
        enc = tiny_encoder(Path(tempfile.mkdtemp()))
        corpus = tiny_corpus(40)
        ids = ix.doc_order(corpus)
        docs = enc.encode([corpus[d] for d in ids], "doc", max_tokens=16, label=False)
        pairs, _, _ = _pairs(corpus, ids)
        try:
            from irprune.pruning import GMPSchedule

            cfg = DensePruneConfig(recovery_steps=14, recovery_lr=1e-3, gmp=GMPSchedule(updates=3))
        except TypeError:                                 # before dense.prune.gmp (gmp_end_frac, gmp_updates)
            cfg = DensePruneConfig(recovery_steps=14, recovery_lr=1e-3, gmp_updates=3)
        res = prune_query_encoder(enc, method, 0.8, pairs, docs, cfg, DenseTrainConfig(batch_size=8), 0,
                                  query_max_tokens=16)
        achieved = res.achieved if hasattr(res, "achieved") else res[1]
        out[f"query-encoder-{method}"] = {"weights": _digest(enc.query.state_dict()), "sparsity": round(achieved, 6)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tests", type=Path, default=ROOT / "tests", help="the tests folder whose tiny setups to use")
    args = ap.parse_args()
    sys.path.insert(0, str(args.tests))
    torch.set_num_threads(1)
    for name, row in cells().items():
        print(json.dumps({"cell": name, **row}))


if __name__ == "__main__":
    main()
