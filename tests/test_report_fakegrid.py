"""A seeded fake pruning grid in the tidy-results layout (tests and benchmarks/bench_report.py use it), plus
checks of the generator itself.  Lives in tests/ on purpose: the library never fabricates results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from irprune.report.results import make_cell, write_cell

MODELS = {"monobert": 0.62, "conv_knrm": 0.50, "conformer_kernel": 0.47}   # dense MRR@10 level (fake)
# method -> (sparsity where it starts to hurt, steepness): larger = more robust
METHODS = {"gmp": (0.85, 10.0), "magnitude": (0.7, 6.0), "random": (0.3, 3.0), "snip": (0.6, 5.0),
           "movement": (0.8, 8.0)}
SPARSITIES = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))            # 50%..95% in 5% steps
CARD = {"docs": 6000, "source": "synthetic", "doc_length": {"mean": 51.5, "median": 51.0, "max": 90.0, "p95": 77.0},
        "splits": {"train": {"queries": 3000, "judged_queries": 3000},
                   "dev": {"queries": 200, "judged_queries": 200},
                   "test": {"queries": 250, "judged_queries": 250}},
        "rel_threshold": 1, "skipped_lines": 0, "empty_docs": 0}


def _rr(rng: np.random.Generator, quality: float, n: int) -> np.ndarray:
    """Reciprocal ranks (0 or 1/r, r <= 10) whose mean is about ``quality``."""
    ranks = 1 + rng.geometric(min(0.95, max(0.05, quality)), size=n) - 1
    rr = 1.0 / ranks
    rr[ranks > 10] = 0.0
    return rr


def _metrics(rr: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    m = float(rr.mean())
    return {"mrr_at_10": m, "ndcg_at_10": min(1.0, m * 1.1), "map": m * 0.7, "recall_at_10": min(1.0, m * 1.2),
            "recall_at_100": min(1.0, 0.85 + 0.1 * m)}


def write_grid(root: Path, *, models=MODELS, methods=METHODS, sparsities=SPARSITIES, seeds=(0, 1),
               n_queries: int = 60, seed: int = 0, pruning_logs: bool = True, bm25: bool = True) -> Path:
    """Write a fake grid under ``root``: BM25 metrics, dense + pruned cell files with per-query scores, pruning
    logs and the dataset card.  Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    qids = [f"q{i}" for i in range(n_queries)]
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "card.json").write_text(json.dumps(CARD))
    if bm25:
        rr = _rr(rng, 0.43, n_queries)
        per = {"test": {"mrr@10": dict(zip(qids, rr.tolist()))}}
        (root / "runs" / "bm25").mkdir(parents=True, exist_ok=True)
        (root / "runs" / "bm25" / "per_query.json").write_text(json.dumps(per))
        m = {k.replace("_at_", "@"): v for k, v in _metrics(rr, rng).items()}
        (root / "metrics").mkdir(parents=True, exist_ok=True)
        bm = {"test": {**m, "num_queries": n_queries, "relevance_level": 2}, "depth": 100}
        (root / "metrics" / "bm25.json").write_text(json.dumps(bm))
    params = {"monobert": 110_000_000, "conv_knrm": 2_000_000, "conformer_kernel": 5_000_000}
    for model, level in models.items():
        total = params.get(model, 1_000_000)
        prunable = int(total * 0.8)
        for s in seeds:
            dense_rr = _rr(rng, level, n_queries)
            pq = root / "runs" / "train" / model / f"seed{s}_per_query.json"
            pq.parent.mkdir(parents=True, exist_ok=True)
            pq.write_text(json.dumps({"per_query": {"mrr@10": dict(zip(qids, dense_rr.tolist()))}}))
            write_cell(root / "metrics" / "train" / f"{model}-seed{s}.json", make_cell(
                task="ranking", model=model, method="dense", target_sparsity=0.0, achieved_sparsity=0.0, seed=s,
                split="test", primary_metric="mrr@10", **_metrics(dense_rr, rng), total_params=total,
                prunable_params=prunable, nonzero_params=total, flops_dense=2.0 * total, flops_sparse=2.0 * total,
                size_dense_bytes=4 * total, size_sparse_bytes=4 * total, latency_ms_per_query=total / 1e6,
                wall_time_s=100.0, pqi=0.1, per_query_path=str(pq.relative_to(root)),
                **_coverage(model, total, prunable, 0.0), **_engines(total / 1e6, 0.0)))
            for method, (knee, steep) in methods.items():
                for sp in sparsities:
                    keep = 1.0 / (1.0 + np.exp(steep * (sp - knee) * 3))
                    # each query keeps its dense score with probability ~ keep, else drops to a lower rank
                    drop = rng.random(n_queries) > keep + (1 - keep) * 0.5
                    rr = np.where(drop, dense_rr * rng.uniform(0.0, 0.6, n_queries), dense_rr)
                    achieved = min(0.999, sp + rng.uniform(-0.004, 0.004))
                    nonzero = total - int(prunable * achieved)
                    pq = root / "runs" / "prune" / model / method / f"{sp:.2f}" / f"seed{s}_per_query.json"
                    pq.parent.mkdir(parents=True, exist_ok=True)
                    pq.write_text(json.dumps({"mrr@10": dict(zip(qids, rr.tolist()))}))
                    write_cell(root / "metrics" / "prune" / model / method / f"{sp:.2f}" / f"seed{s}.json",
                               make_cell(task="ranking", model=model, method=method, target_sparsity=sp,
                                         achieved_sparsity=achieved, seed=s, split="test", primary_metric="mrr@10",
                                         **_metrics(rr, rng), total_params=total, prunable_params=prunable,
                                         nonzero_params=nonzero, flops_dense=2.0 * total,
                                         flops_sparse=2.0 * nonzero, size_dense_bytes=4 * total,
                                         size_sparse_bytes=8 * nonzero, latency_ms_per_query=total / 1e6 * (
                                             1 - 0.3 * achieved), wall_time_s=50.0,
                                         pqi=0.1 + 0.4 * achieved, per_query_path=str(pq.relative_to(root)),
                                         **_coverage(model, total, prunable, achieved),
                                         **_engines(total / 1e6 * (1 - 0.3 * achieved), achieved)))
                    if pruning_logs and method == "gmp" and s == seeds[0]:
                        _write_log(root / "runs" / "prune" / model / method / f"{sp:.2f}" / "pruning_log.json",
                                   sp, rng)
    return root


#: fake prunable tensors per ranker ("kind count"); the rest of the model is frozen embeddings
KINDS = {"monobert": "linear 14", "conv_knrm": "conv 3, linear 1", "conformer_kernel": "linear 9"}
#: fake engine speeds: latency = torch's x factor (torch-csr gains with sparsity, the others do not)
ENGINE_FACTORS = {"torch": lambda s: 1.0, "torch-csr": lambda s: 2.0 - 1.5 * s, "onnxruntime": lambda s: 0.7,
                  "openvino": lambda s: 0.6}
LATENCY_CPU = "Fake CPU 9000 (2 cores)"


def _coverage(model: str, total: int, prunable: int, achieved: float) -> dict:
    """The sparsity-coverage columns of a fake ranking cell: prunable weights at ``achieved``, the rest frozen."""
    return {"sparsity_prunable": achieved, "sparsity_all": achieved * prunable / total,
            "prunable_kinds": KINDS.get(model, "linear 1"), "frozen_params": total - prunable}


def _engines(torch_ms: float, achieved: float) -> dict:
    return {**{f"latency_ms_{e.replace('-', '_')}": torch_ms * f(achieved) for e, f in ENGINE_FACTORS.items()},
            "latency_threads": 1, "latency_cpu": LATENCY_CPU}


#: cross-task pairs (task, model) -> (dense primary value, primary metric); BLEU is on [0, 100]
TASK_PAIRS = {("classification", "embedding_bag"): (0.89, "accuracy"), ("translation", "seq2seq"): (80.0, "bleu")}
TASK_METHODS = {"gmp": (0.9, 10.0), "random": (0.5, 4.0), "grasp": (0.8, 6.0)}


def write_task_grid(root: Path, *, pairs=TASK_PAIRS, methods=TASK_METHODS, sparsities=(0.5, 0.9), seeds=(0,),
                    seed: int = 1) -> list[Path]:
    """Fake classification/translation cells (dense + pruned) under ``root/metrics/cells/tasks`` in the layout
    of the ``task_dense``/``task`` stages; returns the written files.  Deterministic in ``seed``."""
    from irprune.pipeline.task_stage import cell_path

    rng = np.random.default_rng(seed)
    written = []
    for (task, model), (level, metric) in pairs.items():
        total, prunable = 50_000, 48_000
        for s in seeds:
            cells = [("dense", 0.0, level * (1 + rng.normal(0, 0.005)))]
            for method, (knee, steep) in methods.items():
                for sp in sparsities:
                    keep = 1.0 / (1.0 + np.exp(steep * (sp - knee) * 3))
                    cells.append((method, sp, cells[0][2] * (0.3 + 0.7 * keep)))
            for method, sp, v in cells:
                achieved = 0.0 if sp == 0 else min(0.999, sp + rng.uniform(-0.003, 0.003))
                nonzero = total - int(prunable * achieved)
                extra = {"macro_f1": min(1.0, v * 0.98)} if task == "classification" else {}
                path = root / cell_path(task, model, method, sp, s)
                write_cell(path, make_cell(
                    task=task, model=model, method=method, target_sparsity=sp, achieved_sparsity=achieved, seed=s,
                    split="test", primary_metric=metric, **{metric: float(v)}, **extra, total_params=total,
                    prunable_params=prunable, nonzero_params=nonzero, flops_dense=1000.0 * total,
                    flops_sparse=1000.0 * nonzero, wall_time_s=5.0, sparsity_prunable=achieved,
                    sparsity_all=achieved * prunable / total, prunable_kinds="embedding 1, linear 2",
                    frozen_params=0))
                written.append(path)
    return written


def _write_log(path: Path, target: float, rng: np.random.Generator) -> None:
    layers = [f"encoder.layer.{i}.{t}.weight" for i in range(4) for t in ("attention", "ffn")]
    entries = []
    for it in range(6):
        s = target * (1 - (1 - it / 5) ** 3)
        per = {n: {"sparsity": float(np.clip(s + rng.normal(0, 0.03), 0, 1)), "pqi": 0.1 + 0.4 * s}
               for n in layers}
        entries.append({"method": "gmp", "iteration": it, "step": it * 100, "target_sparsity": target,
                        "sparsity": s, "pqi": 0.1 + 0.4 * s + 0.02 * rng.random(), "per_tensor": per})
    path.write_text(json.dumps({"p": 1.0, "q": 2.0, "entries": entries}))


def test_fake_grid_is_deterministic_and_valid(tmp_path: Path):
    from irprune.report.results import cell_files, read_cell

    a = write_grid(tmp_path / "a", models={"conv_knrm": 0.5}, methods={"gmp": (0.85, 10.0)},
                   sparsities=(0.5, 0.9), seeds=(0,))
    b = write_grid(tmp_path / "b", models={"conv_knrm": 0.5}, methods={"gmp": (0.85, 10.0)},
                   sparsities=(0.5, 0.9), seeds=(0,))
    fa, fb = cell_files(["metrics/**/*.json"], a), cell_files(["metrics/**/*.json"], b)
    assert [p.relative_to(a) for p in fa] == [p.relative_to(b) for p in fb] and len(fa) == 4  # bm25 + dense + 2
    for x, y in zip(fa, fb):
        assert x.read_text() == y.read_text()
    assert read_cell(a / "metrics" / "prune" / "conv_knrm" / "gmp" / "0.90" / "seed0.json")["method"] == "gmp"


def test_fake_task_grid_is_valid_and_in_the_task_stage_layout(tmp_path: Path):
    from irprune.report.results import cell_files, collect

    files = write_task_grid(tmp_path)
    assert len(files) == 2 * (1 + 3 * 2)
    assert set(cell_files(["metrics/cells/**/*.json"], tmp_path)) == set(files)
    df = collect(files)
    assert set(df["task"]) == {"classification", "translation"}
    assert (df.loc[df["task"] == "translation", "bleu"] > 1).all()   # BLEU on its own [0, 100] scale


#: a fake DSI: dense record, BM25 over its subset, random ranking (metric -> value)
DSI_DENSE = {"hits@1": 0.12, "hits@10": 0.39, "mrr@10": 0.2, "map": 0.11}
DSI_BM25 = {"hits@1": 0.52, "hits@10": 0.94, "mrr@10": 0.66, "map": 0.51}


def write_dsi(root: Path, *, dense: dict | None = None, bm25: dict | None = None,
              methods: tuple[str, ...] = ("magnitude", "gmp"), sparsities=(0.5, 0.9), seeds=(0, 1),
              seed: int = 2) -> list[dict]:
    """Fake DSI stage outputs under ``root`` in the layout of the ``dsi`` / ``dsi_prune`` stages: the dense record
    ``metrics/dsi.json``, the DSI and BM25-subset cells ``metrics/cells/dsi/*.json``, and per pruned cell
    ``runs/dsi_prune/<cell>/{metrics,cell.test}.json``.  Returns the pruned records.  Deterministic in ``seed``."""
    from irprune.pipeline import dsi_prune_stage

    rng = np.random.default_rng(seed)
    dense, bm25 = dense or DSI_DENSE, bm25 or DSI_BM25
    record = {**dense, **{f"bm25_subset_{k}": v for k, v in bm25.items()}, "random_hits@1": 0.003,
              "random_hits@10": 0.03, "n_docs": 1000, "id_scheme": "semantic", "params": 1_240_960,
              "train_steps": 400, "selected_step": 400, "train_s": 55.2, "total_s": 80.4, "beam_size": 100,
              "selection": "best", "selection_metric": "hits@10", "arch": "t5",
              "dev_history": [{"step": 200, "hits@10": 0.31, "loss": 2.4}, {"step": 400, "hits@10": 0.37, "loss": 1.9}]}
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / "dsi.json").write_text(json.dumps(record))
    common = dict(task="dsi", target_sparsity=0.0, achieved_sparsity=0.0, split="test", primary_metric="mrr@10")
    for name, model, method, m in (("dense", "dsi", "dense", dense), ("bm25", "bm25", "bm25", bm25)):
        write_cell(root / "metrics" / "cells" / "dsi" / f"{name}.test.json", make_cell(
            model=model, method=method, seed=0, mrr_at_10=m["mrr@10"], map=m["map"], **common))
    out = []
    for method in methods:
        for sp in sparsities:
            for s in seeds:
                keep = 1.0 / (1.0 + np.exp(8 * (sp - (0.8 if method == "gmp" else 0.6)) * 3))
                vals = {k: v * (0.2 + 0.8 * keep) * rng.uniform(0.97, 1.03) for k, v in dense.items()}
                enc, dec = sp + rng.uniform(-0.002, 0.002), sp + rng.uniform(-0.002, 0.002)
                rec = {"method": method, "target_sparsity": sp, "seed": s, "achieved_sparsity": (enc + dec) / 2,
                       "encoder_sparsity": enc, "decoder_sparsity": dec, "pqi": 0.1 + 0.3 * sp, **vals}
                d = root / dsi_prune_stage.cell_dir(method, sp, s)
                d.mkdir(parents=True, exist_ok=True)
                (d / "metrics.json").write_text(json.dumps(rec))
                write_cell(d / "cell.test.json", make_cell(
                    task="dsi", model="dsi", method=method, target_sparsity=sp, achieved_sparsity=rec[
                        "achieved_sparsity"], seed=s, split="test", primary_metric="mrr@10", mrr_at_10=vals["mrr@10"],
                    map=vals["map"], pqi=rec["pqi"]))
                out.append(rec)
    return out
