"""Classification metrics: accuracy and macro-F1 (the unweighted mean over classes of per-class F1 =
``2PR / (P + R)``; Sokolova & Lapalme, 2009, "A systematic analysis of performance measures for classification
tasks", Table 3).  A class with no predictions and no gold examples is left out of the mean; a class with
``P + R = 0`` has F1 = 0 (scikit-learn's ``zero_division=0``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion(gold: Sequence[int], pred: Sequence[int], n_classes: int) -> np.ndarray:
    """``M[g, p]`` = number of examples of gold class g predicted as p."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return m


def accuracy(gold: Sequence[int], pred: Sequence[int]) -> float:
    if not len(gold):
        raise ValueError("accuracy of an empty set")
    return float(np.mean(np.asarray(gold) == np.asarray(pred)))


def macro_f1(gold: Sequence[int], pred: Sequence[int], n_classes: int) -> float:
    m = confusion(gold, pred, n_classes)
    tp = np.diag(m).astype(float)
    n_pred, n_gold = m.sum(0), m.sum(1)
    f1 = []
    for c in range(n_classes):
        if n_pred[c] == 0 and n_gold[c] == 0:
            continue
        p = tp[c] / n_pred[c] if n_pred[c] else 0.0
        r = tp[c] / n_gold[c] if n_gold[c] else 0.0
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(f1))


__all__ = ["confusion", "accuracy", "macro_f1"]
