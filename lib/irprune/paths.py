"""Every file name the pipeline reads or writes, in one place (after open_lth's ``foundations/paths.py``).

Paths are relative to the project root, which is the working directory of every DVC stage.  ``dvc.yaml``
names the same paths; ``tests/test_dvc_consistency.py`` keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
DATASET = DATA / "dataset"             # canonical store: collection.tsv, queries.<split>.tsv, qrels.<split>.txt
DATASET_CARD = DATA / "card.json"      # counts, lengths, label distribution
SKIP_REPORT = DATA / "skipped.json"    # input lines skipped under data.on_error=skip, by reason
RUNS = Path("runs")
METRICS = Path("metrics")
TASK_RECORDS = METRICS / "task_records"  # cross-task cells' full records (task stages; the report reads vision's)
LOGS = Path("logs")                    # executed notebooks (papermill output): logs, never dependencies
NOTEBOOKS = Path("notebooks")
SPLITS = ("train", "dev", "test")


def bm25_run(split: str) -> Path:
    """TREC run file of BM25's top-k candidates for a split."""
    return RUNS / "bm25" / f"{split}.trec"


BM25_METRICS = METRICS / "bm25.json"
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


def model_dir(model: str) -> Path:
    """The trained ranker's checkpoint (safetensors + config + text state)."""
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
