"""The study's headline numbers as one short table: ``python -m irprune.summary`` (``make repro`` ends with it).

One row per (task, model, method): the primary metric of the report's split (``report.split`` /
``report.primary_metric``, the mean over seeds) for the dense model and at each of ``report.key_sparsities``
(target sparsity, or achieved within ``report.sparsity_tolerance``), with the p-value of the paired test of each
pruned cell against its dense model (``significance.test``, Holm-adjusted over the table's cells, as the report's
tables) and of each dense ranker against BM25 (from ``metrics/<model>-s<seed>.json`` of its lowest training seed).
It reads the tidy results table (``results/results.csv``, stage ``collect``) and the per-query files it names; it
computes nothing new.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from .errors import IRPruneError
from .report.config import RESULTS_CSV


def _fmt(value: float | None, p: float | None = None, alpha: float = 0.05) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.3f}"
    if p is not None:
        text += f" (p={p:.2g}{'*' if p <= alpha else ''})"
    return text


def _dense_vs_bm25(model: str, root: Path) -> float | None:
    from .paths import trained_metrics

    runs = trained_metrics(model, root)
    if not runs:
        return None
    path = next(iter(runs.values()))
    try:
        p = json.loads(path.read_text(encoding="utf-8")).get("vs_bm25", {}).get("p_value")
    except (OSError, ValueError, AttributeError):
        return None
    return float(p) if isinstance(p, (int, float)) else None


def summary_rows(df: Any, *, split: str, metric: str, key_sparsities: tuple[float, ...], tol: float,
                 sig: Any, root: str | Path = ".") -> list[dict[str, Any]]:
    """Rows ``{task, model, method, dense, <sparsity>: (value, p), ...}`` of the summary table."""
    from .report.analysis import at_sparsity, mean_cells, significance_vs_dense
    from .report.palette import REFERENCE_METHODS

    root = Path(root)
    sub = df[df["split"] == split]
    cells = mean_cells(sub)
    rows: list[dict[str, Any]] = []
    for _, r in cells[cells["method"] == "bm25"].iterrows():
        rows.append({"task": r["task"], "model": "bm25", "method": "-", "dense": (float(r["value"]), None)})
    pruned = cells[~cells["method"].isin(REFERENCE_METHODS)]
    tests: dict[tuple[str, str, str, float], Any] = {}
    for task in sorted(set(pruned["task"])):
        keys = [(m, meth, float(t)) for m, meth, t in
                pruned[pruned["task"] == task][["model", "method", "target_sparsity"]].itertuples(index=False)]
        for k, t in significance_vs_dense(sub, keys, split, metric, sig, root, task=task).items():
            tests[(task,) + k] = t
    for (task, model), group in cells[cells["method"] != "bm25"].groupby(["task", "model"], sort=True):
        dense = group[group["method"] == "dense"]
        dense_value = float(dense["value"].iloc[0]) if len(dense) else None
        p_bm25 = _dense_vs_bm25(model, root) if task == "ranking" else None
        rows.append({"task": task, "model": model, "method": "dense", "dense": (dense_value, p_bm25)})
        for method, mg in group[~group["method"].isin(REFERENCE_METHODS)].groupby("method", sort=True):
            row: dict[str, Any] = {"task": task, "model": model, "method": method, "dense": (dense_value, None)}
            for s in key_sparsities:
                hit = at_sparsity(mg, s, tol)
                if len(hit):
                    h = hit.iloc[0]
                    t = tests.get((task, model, method, float(h["target_sparsity"])))
                    row[s] = (float(h["value"]), None if t is None else t.p_holm)
            rows.append(row)
    return rows


def render(rows: list[dict[str, Any]], key_sparsities: tuple[float, ...], *, split: str, metric: str,
           test: str, alpha: float) -> str:
    """The rows as a fixed-width text table with a two-line legend."""
    head = ["task", "model", "method", "dense"] + [f"s={s:g}" for s in key_sparsities]
    body = [[r["task"], r["model"], r["method"], _fmt(*r["dense"], alpha=alpha)]
            + [_fmt(*r.get(s, (None, None)), alpha=alpha) for s in key_sparsities] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    legend = (f"{metric} on {split} (mean over seeds) at target sparsity s; p: paired {test} of a pruned cell "
              f"against its dense model (Holm-adjusted), of a dense ranker against BM25; * p <= {alpha:g}")
    return "\n".join([legend, line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m irprune.summary", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=RESULTS_CSV)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    from .report.results import read_table
    from .stages import load_stage

    if not args.results.is_file():
        print(f"error: {args.results} not found; run `dvc repro collect` (or `make repro`) first", file=sys.stderr)
        return 2
    try:
        cfg = load_stage("report", args.params)
        df = read_table(args.results)
        rep = cfg.report
        rows = summary_rows(df, split=rep.split, metric=rep.primary_metric, key_sparsities=rep.key_sparsities,
                            tol=rep.sparsity_tolerance, sig=cfg.significance, root=args.results.parent.parent
                            if args.results.parent.name == "results" else Path("."))
    except IRPruneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(render(rows, rep.key_sparsities, split=rep.split, metric=rep.primary_metric, test=cfg.significance.test,
                 alpha=cfg.significance.alpha))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
