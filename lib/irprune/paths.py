"""Every file name the pipeline reads or writes, in one place (after open_lth's ``foundations/paths.py``).

Paths are relative to the project root, which is the working directory of every DVC stage.  ``dvc.yaml``
names the same paths; ``tests/test_dvc_consistency.py`` keeps the two in step.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path("data")
DATASET = DATA / "dataset"             # canonical store: collection.tsv, queries.<split>.tsv, qrels.<split>.txt
DATASET_CARD = DATA / "card.json"      # counts, lengths, label distribution
SKIP_REPORT = DATA / "skipped.json"    # input lines skipped under data.on_error=skip, by reason
RUNS = Path("runs")
METRICS = Path("metrics")
PARAMS_CHECK = METRICS / "params_check.json"   # stamp of the `check` stage (params valid); every stage depends on it
TASK_RECORDS = METRICS / "task_records"  # cross-task cells' full records (task stages; the report reads vision's)
LOGS = Path("logs")                    # executed notebooks (papermill output): logs, never dependencies
NOTEBOOKS = Path("notebooks")
SPLITS = ("train", "dev", "test")
PROJECT_MARKERS = ("dvc.yaml", "params.yaml")   # files that mark the project root


def find_project_root(start: str | Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) holding ``dvc.yaml`` and
    ``params.yaml``; ``None`` when there is none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in PROJECT_MARKERS):
            return folder
    return None


def enter_project_root(start: str | Path | None = None) -> Path:
    """Make the project root the working directory (every path here is relative to it) and return it.

    JupyterLab starts a notebook's kernel in the notebook's folder (``notebooks/``); the stages' notebooks call
    this (through :func:`irprune.stages.load_stage`) so they read and write the same files as under DVC.
    """
    root = find_project_root(start)
    if root is None:
        raise FileNotFoundError(f"no project root (a folder with {' and '.join(PROJECT_MARKERS)}) at or above "
                                f"{Path(start or Path.cwd()).resolve()}; start Jupyter or the stage inside the "
                                "project")
    if Path.cwd().resolve() != root:
        os.chdir(root)
        print(f"note: working directory set to the project root {root}")
    return root


def bm25_run(split: str) -> Path:
    """TREC run file of BM25's top-k candidates for a split."""
    return RUNS / "bm25" / f"{split}.trec"


def hybrid_run(split: str) -> Path:
    """TREC run file of BM25's candidates interleaved with dense retrieval (``first_stage.method: hybrid``)."""
    return RUNS / "bm25" / f"{split}.hybrid.trec"


def candidates_run(split: str) -> Path:
    """The candidate list the re-rankers reorder for a split: the bm25 stage's hybrid list where it wrote one
    (the stage removes any earlier one first, so none is stale), else BM25's."""
    return hybrid_run(split) if hybrid_run(split).is_file() else bm25_run(split)


BM25_METRICS = METRICS / "bm25.json"
DENSE_FIRST_STAGE_PER_QUERY = RUNS / "bm25" / "dense_per_query.json"
BM25_PER_QUERY = RUNS / "bm25" / "per_query.json"


MODELS = Path("models")
PRETRAIN_DIR = MODELS / "pretrain"     # pretrain stage: tokenizer/, mlm/ (BERT MLM checkpoint), word_vectors.txt
PRETRAIN_INFO = PRETRAIN_DIR / "pretrain.json"   # what the stage did (or that it was skipped, and why)
PRETRAIN_TOKENIZER = PRETRAIN_DIR / "tokenizer"
PRETRAIN_MLM = PRETRAIN_DIR / "mlm"
PRETRAIN_WORD_VECTORS = PRETRAIN_DIR / "word_vectors.txt"
PRETRAIN_METRICS = METRICS / "pretrain.json"
CACHE = Path(".cache")                 # project-local downloads and caches (never a DVC output)
STATE = CACHE / "train-state"          # resume state of interrupted training runs (not a DVC output)
TORCHVISION_DATA = CACHE / "torchvision"  # MNIST / CIFAR-10 downloaded by torchvision (tasks.vision)


def trained(model: str, seed: int) -> str:
    """The name of a dense ranker trained at training seed ``seed`` (stage ``train@<model>-<seed>``):
    ``conv_knrm-s0``.  Its checkpoint, runs, metrics and resume state are ``model_dir(name)`` etc.; the pruning
    cells at seed ``seed`` prune this checkpoint."""
    return f"{model}-s{seed}"


def parse_trained(name: str) -> tuple[str, int] | None:
    """The inverse of :func:`trained`: ``"conv_knrm-s0"`` -> ``("conv_knrm", 0)``; None for another name."""
    model, sep, seed = name.rpartition("-s")
    return (model, int(seed)) if sep and model and seed.isdigit() else None


def trained_metrics(model: str, root: str | Path = ".") -> dict[int, Path]:
    """training seed -> ``metrics/<model>-s<seed>.json`` for every seed of ``model`` trained under ``root``."""
    prefix = trained(model, 0)[:-1]
    out = {}
    for p in (Path(root) / METRICS).glob(f"{prefix}*.json"):
        seed = p.stem[len(prefix):]
        if seed.isdigit():
            out[int(seed)] = p
    return dict(sorted(out.items()))


def model_dir(model: str) -> Path:
    """The trained ranker's checkpoint (safetensors + config + text state); ``model`` is :func:`trained`'s name."""
    return MODELS / model


def model_run(model: str, split: str) -> Path:
    """TREC run of ``model`` re-ranking the BM25 candidates of a split."""
    return RUNS / model / f"{split}.trec"


def model_per_query(model: str) -> Path:
    return RUNS / model / "per_query.json"


def model_history(model: str) -> Path:
    """Training curves: loss per step and dev metrics per evaluation."""
    return RUNS / model / "history.json"


def model_metrics(model: str) -> Path:
    return METRICS / f"{model}.json"


def train_state(model: str) -> Path:
    return STATE / model


def notebook(stage: str) -> Path:
    return NOTEBOOKS / f"{stage}.ipynb"


def notebook_log(stage: str, item: str | None = None) -> Path:
    return LOGS / (f"{stage}@{item}.ipynb" if item else f"{stage}.ipynb")


# --- the pruning grid and the tidy results cells ----------------------------------------------------------------
CELLS = METRICS / "cells"               # one tidy-results cell (flat JSON) per task x model x method x sparsity x seed x split


def cell_id(model: str, method: str, sparsity: float, seed: int) -> str:
    """The readable id of a pruning cell, as in its DVC stage name: ``conv_knrm-gmp-0.9-0``."""
    return f"{model}-{method}-{sparsity}-{seed}"


def prune_run_dir(cell: str) -> Path:
    """Runs, per-query scores, mask summary, pruning log and costs of one pruning cell."""
    return RUNS / "prune" / cell


def cell_file(task: str, model: str, name: str, split: str) -> Path:
    """A tidy-results cell file: ``metrics/cells/<task>/<model>/<name>.<split>.json``."""
    return CELLS / task / model / f"{name}.{split}.json"
