"""Text classification data: the AG News CSV (Zhang, Zhao & LeCun, 2015, "Character-level convolutional
networks for text classification"), the Hugging Face ``ag_news`` dataset, and a seeded stratified split.

AG News CSV format: no header, three double-quoted fields ``class,title,description`` with ``class`` in 1..4
(1 World, 2 Sports, 3 Business, 4 Sci/Tech) and ``""`` escaping a quote.  The text of an example is
``title + " " + description`` (as torchtext's ``AG_NEWS`` pipelines use it); the backslashes standing in for
newlines are left as they are (the tokenizer splits on them).  Labels are stored 0-based.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ...errors import DataFormatError
from ...data.types import SkipReport

AG_NEWS_CLASSES: tuple[str, ...] = ("World", "Sports", "Business", "Sci/Tech")
AG_NEWS_HF = "fancyzhx/ag_news"  # the Hub id of the ``ag_news`` dataset (fields ``text`` and ``label`` 0..3)


@dataclass(frozen=True)
class ClassificationSplit:
    """Parallel tuples of texts and 0-based integer labels."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self, n_classes: int) -> list[int]:
        return np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=n_classes).tolist()


@dataclass(frozen=True)
class ClassificationData:
    train: ClassificationSplit
    test: ClassificationSplit
    label_names: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_classes(self) -> int:
        return len(self.label_names)


def read_ag_news_csv(path: str | Path, on_error: Literal["raise", "skip"] = "raise",
                     report: SkipReport | None = None) -> ClassificationSplit:
    """Read an AG News CSV (``class,title,description``, no header).  Bad rows raise :class:`DataFormatError`
    naming the file and line (or are counted in ``report`` with ``on_error="skip"``)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("AG News CSV not found", path=path,
                              fix="point tasks.classification.csv_path at train.csv/test.csv of ag_news_csv")
    texts: list[str] = []
    labels: list[int] = []
    n = len(AG_NEWS_CLASSES)
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise DataFormatError(f"malformed CSV ({e})", path=path, line=reader.line_num,
                                      fix="fields are double-quoted with \"\" escaping a quote") from None
            problem = None
            if len(row) != 3:
                problem = f"expected 3 fields (class,title,description), got {len(row)}"
            elif not row[0].strip().isdigit() or not 1 <= int(row[0]) <= n:
                problem = f"class {row[0]!r} is not an integer in 1..{n}"
                if reader.line_num == 1:
                    problem += " (a header row? the AG News CSV has none)"
            if problem is not None:
                if on_error == "skip":
                    if report is not None:
                        report.add("bad_row", f"{path}:{reader.line_num}: {problem}")
                    continue
                raise DataFormatError(problem, path=path, line=reader.line_num,
                                      fix="each row is \"class\",\"title\",\"description\" with class 1..4; "
                                          "or set on_error: skip")
            labels.append(int(row[0]) - 1)
            texts.append(f"{row[1].strip()} {row[2].strip()}".strip())
    if not texts:
        raise DataFormatError("no examples read", path=path, fix="check that this is the AG News CSV")
    return ClassificationSplit(tuple(texts), tuple(labels))


def from_hf_records(records: Iterable[Mapping[str, Any]], n_classes: int = len(AG_NEWS_CLASSES),
                    text_key: str = "text", label_key: str = "label",
                    source: str = "hf dataset") -> ClassificationSplit:
    """Convert rows of the Hugging Face ``ag_news`` dataset (``{"text": str, "label": 0..3}``) to a split."""
    texts: list[str] = []
    labels: list[int] = []
    for i, r in enumerate(records):
        if text_key not in r or label_key not in r:
            raise DataFormatError(f"row {i} has keys {sorted(r)}; expected {text_key!r} and {label_key!r}",
                                  path=source, fix="pass text_key/label_key naming this dataset's columns")
        lab = r[label_key]
        if isinstance(lab, bool) or not isinstance(lab, int) or not 0 <= lab < n_classes:
            raise DataFormatError(f"row {i}: label {lab!r} is not an integer in 0..{n_classes - 1}", path=source,
                                  fix="use a dataset whose labels are class indices")
        texts.append(str(r[text_key]))
        labels.append(int(lab))
    return ClassificationSplit(tuple(texts), tuple(labels))


def load_ag_news_hf(name: str = AG_NEWS_HF) -> ClassificationData:  # pragma: no cover - needs the network
    """AG News (120k train / 7.6k test) from the Hugging Face Hub through ``datasets``."""
    import datasets

    ds = datasets.load_dataset(name)
    names = tuple(ds["train"].features["label"].names) if hasattr(ds["train"].features["label"], "names") \
        else AG_NEWS_CLASSES
    return ClassificationData(from_hf_records(ds["train"], len(names), source=f"{name}:train"),
                              from_hf_records(ds["test"], len(names), source=f"{name}:test"), names,
                              {"source": f"hf:{name}"})


def stratified_split(split: ClassificationSplit, test_fraction: float, seed: int) -> tuple[ClassificationSplit,
                                                                                          ClassificationSplit]:
    """Seeded per-class split: ``round(test_fraction * n_c)`` examples of each class go to test."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction = {test_fraction}; expected 0 < test_fraction < 1")
    rng = np.random.default_rng(seed)
    labels = np.asarray(split.labels)
    test_idx: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        test_idx.extend(idx[: int(round(test_fraction * len(idx)))].tolist())
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_idx] = True
    order = rng.permutation(len(labels))

    def take(sel: bool) -> ClassificationSplit:
        keep = [i for i in order if is_test[i] == sel]
        return ClassificationSplit(tuple(split.texts[i] for i in keep), tuple(split.labels[i] for i in keep))

    return take(False), take(True)


__all__ = ["AG_NEWS_CLASSES", "AG_NEWS_HF", "ClassificationSplit", "ClassificationData", "read_ag_news_csv",
           "from_hf_records", "load_ag_news_hf", "stratified_split"]
