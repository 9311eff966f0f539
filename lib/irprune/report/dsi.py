"""DSI in the report: the dense DSI against BM25 on the same indexed subset and beside the rerankers,
and DSI's quality against sparsity for train-prune-recover (one-shot magnitude) and gradual magnitude pruning.

Reads the DSI stages' records, which hold what the tidy table has no column for (Hits@k, encoder and decoder
sparsity, the expected Hits@k of a random ranking): ``metrics/dsi.json`` of the ``dsi`` stage and
``runs/dsi_prune/*/metrics.json`` of the ``dsi_prune`` cells.  DSI is evaluated on its subset of the collection
(:mod:`irprune.dsi.data`), so every DSI number is set beside BM25 over the same documents; the rerankers'
full-collection numbers appear in a separate, labelled group.  Missing records read "not run".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from . import palette
from .tables import NOT_RUN, Table, fmt, pct

DENSE_METRICS = Path("metrics") / "dsi.json"
CELL_RECORDS = "runs/dsi_prune/*/metrics.json"
FIGURE = "dsi_sparsity"
METRICS = ("hits@1", "hits@10", "mrr@10", "map")
LABELS = {"hits@1": "Hits@1", "hits@10": "Hits@10", "mrr@10": "MRR@10", "map": "MAP"}
#: DSI counts as "well above random" when its test Hits@10 is at least this multiple of a random ranking's.
ABOVE_RANDOM_FACTOR = 2.0
#: The methods the paper's prose names (others are drawn and tabulated all the same).
PROSE_METHODS = ("magnitude", "gmp")


@dataclass
class DSIResults:
    """The dense record (``None``: not run) and one row per pruned cell (seed means in :meth:`cells`)."""

    dense: dict[str, Any] | None
    records: list[dict[str, Any]]

    def cells(self) -> Any:
        """One row per (method, target sparsity): means over seeds of every metric and sparsity, ``n_seeds``."""
        import pandas as pd

        cols = ("achieved_sparsity", "encoder_sparsity", "decoder_sparsity", "pqi") + METRICS
        if not self.records:
            return pd.DataFrame(columns=["method", "target_sparsity", "n_seeds", *cols])
        df = pd.DataFrame([{k: r.get(k) for k in ("method", "target_sparsity", "seed", *cols)} for r in self.records])
        for c in cols:
            df[c] = df[c].astype("float64")
        g = df.groupby(["method", "target_sparsity"], sort=True)
        out = g[list(cols)].mean().reset_index()
        out["n_seeds"] = g.size().to_numpy()
        return out

    def dense_value(self, metric: str, prefix: str = "") -> float | None:
        v = (self.dense or {}).get(prefix + metric)
        return float(v) if v is not None else None


def load(root: str | Path = ".") -> DSIResults:
    """The DSI records under ``root`` (absent files: not run)."""
    root = Path(root)
    dense_path = root / DENSE_METRICS
    dense = json.loads(dense_path.read_text(encoding="utf-8")) if dense_path.is_file() else None
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob(CELL_RECORDS))]
    return DSIResults(dense, records)


def retained(res: DSIResults, cells: Any, metric: str) -> Any:
    """``cells[metric]`` as a share of the dense DSI's (NaN without a dense record or a zero dense value)."""
    d = res.dense_value(metric)
    return cells[metric] / d if d else cells[metric] * math.nan


def figure(res: DSIResults, out_dir: Path) -> list[Path]:
    """Hits@10 and MAP (test, on the subset) against achieved sparsity, a line per method; the dense DSI (black),
    BM25 over the same documents (grey, dotted) and, for Hits@10, a random ranking (grey, dash-dot).  ``[]`` when
    DSI has not run."""
    from .figures import _legend, _method_line, _plt, _save

    if res.dense is None and not res.records:
        return []
    cells = res.cells()
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(5.6, 2.6), squeeze=False)
    axes = list(axes[0])
    for ax, metric in zip(axes, ("hits@10", "map")):
        for method in palette.method_order(set(cells["method"])):
            g = cells[cells["method"] == method].assign(value=lambda d: d[metric], std=0.0)
            _method_line(ax, g, method, band=False)
        for name, prefix in (("dense", ""), ("bm25", "bm25_subset_")):
            v = res.dense_value(metric, prefix)
            if v is not None:
                st = palette.method_style(name)
                label = st.label if name == "dense" else "BM25 (same documents)"
                ax.axhline(v, color=st.color, linestyle=st.linestyle, linewidth=1.1, label=label)
        rnd = res.dense_value(metric, "random_")
        if rnd is not None:
            ax.axhline(rnd, color=palette.GREY, linestyle="-.", linewidth=0.8, label="Random ranking")
        if cells.empty:
            ax.text(0.5, 0.5, "no pruned cells\n(not run)", transform=ax.transAxes, ha="center", va="center",
                    fontsize=8, color=palette.GREY)
        ax.set_xlim(0, 100)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("Sparsity (%)")
        ax.set_ylabel(f"{LABELS[metric]} (DSI subset)")
        ax.set_title(f"DSI: {LABELS[metric]}")
    _legend(fig, axes, ncol=3)
    return _save(fig, out_dir, FIGURE)


def _row(name: str, docs: str, sp: tuple[str, str, str], vals: Mapping[str, float | None]) -> tuple[str, ...]:
    return (name, docs) + sp + tuple(fmt(vals.get(m)) if vals.get(m) is not None else "n/a" for m in METRICS)


def table(res: DSIResults, df: Any, card: Mapping[str, Any] | None = None, split: str = "test") -> Table:
    """DSI and BM25 on DSI's subset (dense, then each pruned cell, seed means), then the full-collection baselines
    (BM25 and the dense rerankers) in their own group."""
    card = card or {}
    n_sub = f"{int(res.dense['n_docs']):,}" if res.dense and "n_docs" in res.dense else NOT_RUN
    rows: list[tuple[str, ...]] = []
    if res.dense is None:
        rows.append(("DSI (dense)", NOT_RUN, "", "", "") + (NOT_RUN,) * len(METRICS))
    else:
        rows.append(_row("Random ranking", n_sub, ("", "", ""),
                         {m: res.dense_value(m, "random_") for m in ("hits@1", "hits@10")}))
        rows.append(_row("BM25 (same documents)", n_sub, ("", "", ""),
                         {m: res.dense_value(m, "bm25_subset_") for m in METRICS}))
        rows.append(_row("DSI (dense)", n_sub, (pct(0.0), pct(0.0), pct(0.0)),
                         {m: res.dense_value(m) for m in METRICS}))
    cells = res.cells()
    order = {m: i for i, m in enumerate(palette.method_order(set(cells["method"])))}
    cells = cells.assign(_o=cells["method"].map(order)).sort_values(["_o", "target_sparsity"])
    for _, c in cells.iterrows():
        name = f"DSI, {palette.method_label(str(c['method']))} {pct(float(c['target_sparsity']), 0)}"
        rows.append(_row(name, n_sub, tuple(pct(float(c[k])) for k in ("achieved_sparsity", "encoder_sparsity",
                                                                           "decoder_sparsity")),
                         {m: float(c[m]) for m in METRICS}))
    group = len(rows) - 1
    n_full = f"{int(card['docs']):,}" if "docs" in card else NOT_RUN
    sub = df[(df["split"] == split) & (df["task"] == "ranking")] if len(df) else df
    for model in ["bm25", *palette.STUDY_MODELS]:
        method = "bm25" if model == "bm25" else "dense"
        r = sub[(sub["model"] == model) & (sub["method"] == method)] if len(sub) else sub
        name = palette.model_label(model) + (" (full collection)" if model == "bm25" else " (re-ranking BM25)")
        if len(r) == 0:
            rows.append((name, n_full, "", "", "") + (NOT_RUN,) * len(METRICS))
            continue
        vals = {m: float(r[m].mean()) for m in ("mrr@10", "map") if r[m].notna().any()}
        rows.append(_row(name, n_full, ("", "", ""), vals))
    header = ("System", "Documents", "Sparsity", "Encoder", "Decoder") + tuple(LABELS[m] for m in METRICS)
    caption = (f"DSI on its indexed subset ({split} split, qrels restricted to the subset; pruned cells: mean over "
               "seeds, sparsity achieved overall, in the encoder and in the decoder) beside BM25 over the same "
               "documents and a random ranking; below, for reference only, BM25 and the dense rerankers on the full "
               "collection, which are not comparable with the rows above. n/a: not measured.")
    return Table("dsi", header, tuple(rows), caption, "tab:dsi", "ll" + "r" * (len(header) - 2), (group,))


def still_learning(history: list[Mapping[str, float]], metric: str) -> bool | None:
    """Whether the dev curve was still rising when training stopped: the last evaluation is the best one and
    above the one before it (``None`` with fewer than two evaluations)."""
    vals = [float(h[metric]) for h in history if metric in h]
    if len(vals) < 2:
        return None
    return vals[-1] > vals[-2] and vals[-1] >= max(vals)


def add_curve_macros(M: Any, d: Mapping[str, Any]) -> None:
    """The evidence for *why* DSI lands where it does, from the stage's dev curve: its first and last dev
    evaluations (step, selection metric, mean training loss of the 50 steps before) and ``DsiStillLearning``."""
    from .macros import count, num

    metric = d.get("selection_metric", "hits@10")
    hist = [h for h in d.get("dev_history") or [] if metric in h]
    rising = still_learning(hist, metric)
    M.flag("DsiHaveCurve", rising is not None)
    M.flag("DsiStillLearning", bool(rising))
    for tag, h in (("First", hist[0] if hist else None), ("Last", hist[-1] if hist else None)):
        M.add(f"DsiDev{tag}Step", NOT_RUN if h is None else count(h["step"]))
        M.add(f"DsiDev{tag}", num(None if h is None else float(h[metric])))
        M.add(f"DsiLoss{tag}", num(None if h is None or h.get("loss") is None else float(h["loss"]), 2))


def add_macros(M: Any, res: DSIResults, keep: float, tol: float = 0.02) -> None:
    """The DSI macros of the paper (:class:`irprune.report.macros.Macros`): setup, dense and BM25-subset numbers,
    the booleans ``HaveDsi``, ``HaveDsiPruned``, ``DsiBeatsBmTwentyFive`` (dense MAP >= BM25's on the subset),
    ``DsiAboveRandom`` (Hits@10 >= :data:`ABOVE_RANDOM_FACTOR` x random), and per method of
    :data:`PROSE_METHODS` its highest-sparsity cell; ``DsiKeepSparsity``: the highest achieved sparsity keeping
    ``keep`` of the dense Hits@10."""
    from .macros import count, metric_words, num, sparsity_words
    from .macros import pct as pct_or

    d = res.dense or {}
    have = res.dense is not None
    M.flag("HaveDsi", have)
    arch = d.get("arch", "t5")
    M.text("DsiArchName", "T5" if arch == "t5" else "BERT-initialised")
    M.flag("DsiFromScratch", arch == "t5")
    M.text("DsiHitsOneName", LABELS["hits@1"])
    M.text("DsiHitsTenName", LABELS["hits@10"])
    M.add("DsiNumDocs", count(d["n_docs"]) if "n_docs" in d else NOT_RUN)
    M.text("DsiIdScheme", str(d.get("id_scheme", NOT_RUN)))
    M.add("DsiParams", count(d["params"]) if "params" in d else NOT_RUN)
    M.add("DsiTrainSteps", count(d["train_steps"]) if "train_steps" in d else NOT_RUN)
    M.add("DsiSelectedStep", count(d["selected_step"]) if "selected_step" in d else NOT_RUN)
    M.add("DsiTrainSeconds", count(d["train_s"]) if "train_s" in d else NOT_RUN)
    M.add("DsiTotalSeconds", count(d["total_s"]) if "total_s" in d else NOT_RUN)
    M.add("DsiBeamSize", count(d["beam_size"]) if "beam_size" in d else NOT_RUN)
    rule = d.get("selection")
    M.text("DsiSelection", NOT_RUN if rule is None else ("the final weights" if rule == "last" else
           f"the highest dev {LABELS.get(d.get('selection_metric', ''), d.get('selection_metric', ''))}"))
    for m in METRICS:
        w = "HitsOne" if m == "hits@1" else "HitsTen" if m == "hits@10" else metric_words(m)
        M.add(f"DsiDense{w}", num(res.dense_value(m)))
        M.add(f"DsiBm{w}", num(res.dense_value(m, "bm25_subset_")))
    M.add("DsiRandomHitsTen", num(res.dense_value("hits@10", "random_")))
    dmap, bmap = res.dense_value("map"), res.dense_value("map", "bm25_subset_")
    M.flag("DsiBeatsBmTwentyFive", dmap is not None and bmap is not None and dmap >= bmap)
    M.add("DsiMapShareOfBm", pct_or(dmap / bmap if dmap is not None and bmap else None))
    add_curve_macros(M, d)
    h, r = res.dense_value("hits@10"), res.dense_value("hits@10", "random_")
    M.flag("DsiAboveRandom", h is not None and r is not None and h >= ABOVE_RANDOM_FACTOR * r)
    M.add("DsiRandomRatio", num(h / r, 1) if h is not None and r else NOT_RUN)
    M.add("DsiAboveRandomFactor", num(ABOVE_RANDOM_FACTOR, 0))
    cells = res.cells()
    M.flag("HaveDsiPruned", not cells.empty)
    M.add("DsiNumPrunedCells", count(len(cells)))
    M.add("DsiNumSeeds", count(int(cells["n_seeds"].max()) if not cells.empty else 0))
    if not cells.empty:
        cells = cells.assign(retained=retained(res, cells, "hits@10"), map_retained=retained(res, cells, "map"))
    for method in PROSE_METHODS:
        stem = "Dsi" + palette.method_style(method).macro + "Top"
        mc = cells[cells["method"] == method] if not cells.empty else cells
        top = mc.sort_values("target_sparsity").iloc[-1] if not mc.empty else None
        M.add(f"{stem}Sparsity", pct_or(None if top is None else float(top["achieved_sparsity"])))
        M.add(f"{stem}Encoder", pct_or(None if top is None else float(top["encoder_sparsity"])))
        M.add(f"{stem}Decoder", pct_or(None if top is None else float(top["decoder_sparsity"])))
        M.add(f"{stem}HitsTen", num(None if top is None else float(top["hits@10"])))
        M.add(f"{stem}MAP", num(None if top is None else float(top["map"])))
        M.add(f"{stem}Retained", pct_or(None if top is None else float(top["retained"])))
    ok = cells[cells["retained"] >= keep - 1e-12] if not cells.empty else cells
    best = ok.sort_values(["achieved_sparsity", "retained"]).iloc[-1] if not ok.empty else None
    M.flag("DsiKeepFound", best is not None)
    M.add("DsiKeepSparsity", pct_or(None if best is None else float(best["achieved_sparsity"])))
    M.text("DsiKeepMethod", NOT_RUN if best is None else palette.method_label(str(best["method"])))
    # every cell under its own name too, e.g. \DsiGmpNinetyHitsTen (as the rankers' \BertGmpNinetyMRR)
    for _, c in (cells.iterrows() if not cells.empty else iter(())):
        stem = ("Dsi" + palette.method_style(str(c["method"])).macro + sparsity_words(float(c["target_sparsity"])))
        M.add(f"{stem}HitsTen", num(float(c["hits@10"])))
        M.add(f"{stem}MAP", num(float(c["map"])))
        M.add(f"{stem}Retained", pct_or(float(c["retained"])))
        M.add(f"{stem}Encoder", pct_or(float(c["encoder_sparsity"])))
        M.add(f"{stem}Decoder", pct_or(float(c["decoder_sparsity"])))


__all__ = ["DSIResults", "load", "figure", "table", "add_curve_macros", "add_macros", "retained", "still_learning",
           "DENSE_METRICS", "CELL_RECORDS", "FIGURE", "ABOVE_RANDOM_FACTOR"]
