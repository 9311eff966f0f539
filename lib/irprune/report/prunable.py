"""What "sparsity" covers: per model, which tensors are prunable, how many parameters they hold, and the share of
all parameters that is zero at the comparison sparsity.

"Sparsity" in this study is the fraction of *prunable* weights that are zero (:mod:`irprune.pruning.sparsity`).
A model whose prunable weights are a small part of its parameters (Conv-KNRM and Conformer-Kernel with their
frozen word embeddings) is far less sparse overall; this table and its macros say by how much, from the
``prunable_kinds prunable_params frozen_params total_params sparsity_all`` columns each cell writer counts on the
pruned model (:func:`irprune.pruning.sparsity.sparsity_columns`).
"""

from __future__ import annotations

import math
from typing import Any

from . import palette
from .figures import TASK_LABELS
from .macros import pct as tex_pct
from .tables import NOT_RUN, Table, fmt_count, pct

#: methods whose prunable set differs from the cell's ``include`` (they remove linear weights only)
_STRUCTURED = ("heads", "structured")
_TASK_ORDER = ("ranking", "dense", "dsi", "classification", "translation", "vision")
_COUNTS = ("prunable_kinds", "prunable_params", "frozen_params", "total_params")


def _kinds(text: Any) -> str:
    """``"conv 3, linear 1"`` -> ``"conv (3), linear (1)"``."""
    if not isinstance(text, str) or not text:
        return "n/a"
    parts = [p.strip().rsplit(" ", 1) for p in text.split(",")]
    return ", ".join(f"{b[0]} ({b[1]})" if len(b) == 2 else b[0] for b in parts)


def coverage(df: Any, split: str = "test", sparsity: float = 0.9, tol: float = 0.02) -> list[dict[str, Any]]:
    """One record per (task, model) with pruned cells that carry the prunable counts: ``task model kinds prunable
    frozen total share`` (the most frequent counts over the model's unstructured pruned cells) and ``zero_all``,
    the seed/method mean of ``sparsity_all`` over its cells within ``tol`` of ``sparsity`` (``None`` without)."""
    if "prunable_kinds" not in df.columns:
        return []
    sub = df[(df["split"] == split) & ~df["method"].isin(palette.REFERENCE_METHODS + _STRUCTURED)
             & df["prunable_params"].notna() & df["total_params"].notna()]
    out = []
    for (task, model), g in sub.groupby(["task", "model"], sort=False):
        counts = g[list(_COUNTS)].astype(object).where(g[list(_COUNTS)].notna(), None)
        top = counts.apply(tuple, axis=1).value_counts(sort=True).index[0]
        kinds, prunable, frozen, total = top
        near = g[(g["target_sparsity"] - sparsity).abs() <= tol]["sparsity_all"].dropna()
        out.append({"task": task, "model": model, "kinds": kinds, "prunable": int(prunable),
                    "frozen": None if frozen is None else int(frozen), "total": int(total),
                    "share": int(prunable) / int(total) if total else math.nan,
                    "zero_all": float(near.mean()) if not near.empty else None})
    order = {t: i for i, t in enumerate(_TASK_ORDER)}
    models = palette.model_order({r["model"] for r in out})
    out.sort(key=lambda r: (order.get(r["task"], len(order)), r["task"], models.index(r["model"])))
    return out


def table(df: Any, split: str = "test", sparsity: float = 0.9, tol: float = 0.02) -> Table:
    """The ``prunable`` table: per model its prunable tensors by kind, prunable / frozen / all parameters, the
    prunable share and the share of all parameters that is zero at ``sparsity``; study rankers without pruned
    cells read "not run"."""
    recs = coverage(df, split, sparsity, tol)
    found = {(r["task"], r["model"]): r for r in recs}
    ranking = palette.model_order({m for t, m in found if t == "ranking"} | set(palette.STUDY_MODELS))
    keys = [("ranking", m) for m in ranking] + [k for k in found if k[0] != "ranking"]
    rows = []
    for task, model in keys:
        r = found.get((task, model))
        head = (TASK_LABELS.get(task, task), palette.model_label(model))
        if r is None:
            rows.append(head + (NOT_RUN,) * 6)
            continue
        rows.append(head + (_kinds(r["kinds"]), fmt_count(r["prunable"]),
                            "n/a" if r["frozen"] is None else fmt_count(r["frozen"]), fmt_count(r["total"]),
                            pct(r["share"]), NOT_RUN if r["zero_all"] is None else pct(r["zero_all"])))
    s = f"{100 * sparsity:g}%"
    header = ("Task", "Model", "Prunable tensors (kind, count)", "Prunable", "Frozen", "All", "Prunable share",
              f"All zero at {s}")
    return Table("prunable", header, tuple(rows),
                 "What the sparsity covers. Sparsity in this paper is the share of a model's prunable weights that "
                 "is zero: the weight matrices of the listed module kinds (biases, norms and, unless listed, "
                 "embeddings are never pruned). Prunable, frozen (never trained) and all parameters as counted on "
                 f"the pruned models; the last column is the share of all parameters that is zero at {s} target "
                 "sparsity (mean over methods and seeds), measured on the pruned models.",
                 "tab:prunable", "ll" + "l" + "r" * 5)


def add_macros(M: Any, df: Any, split: str = "test", sparsity: float = 0.9, tol: float = 0.02) -> None:
    """``HavePrunableCounts``; ``PrunableLowestModel`` / ``PrunableLowestShare`` / ``PrunableLowestZeroAll``: the
    ranker whose prunable weights are the smallest share of its parameters, that share, and the share of all its
    parameters that is zero at ``sparsity``."""
    recs = [r for r in coverage(df, split, sparsity, tol) if r["task"] == "ranking"]
    M.flag("HavePrunableCounts", bool(recs))
    low = min(recs, key=lambda r: r["share"]) if recs else None
    M.text("PrunableLowestModel", palette.model_label(low["model"]) if low else NOT_RUN)
    M.add("PrunableLowestShare", tex_pct(low["share"]) if low else NOT_RUN)
    M.add("PrunableLowestZeroAll", tex_pct(low["zero_all"]) if low else NOT_RUN)


__all__ = ["coverage", "table", "add_macros"]
