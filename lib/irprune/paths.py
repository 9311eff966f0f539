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
LOGS = Path("logs")                    # executed notebooks (papermill output): logs, never dependencies
NOTEBOOKS = Path("notebooks")
SPLITS = ("train", "dev", "test")


def bm25_run(split: str) -> Path:
    """TREC run file of BM25's top-k candidates for a split."""
    return RUNS / "bm25" / f"{split}.trec"


BM25_METRICS = METRICS / "bm25.json"
BM25_PER_QUERY = RUNS / "bm25" / "per_query.json"


def notebook(stage: str) -> Path:
    return NOTEBOOKS / f"{stage}.ipynb"


def notebook_log(stage: str, item: str | None = None) -> Path:
    return LOGS / (f"{stage}@{item}.ipynb" if item else f"{stage}.ipynb")
