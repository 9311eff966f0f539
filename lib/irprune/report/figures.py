"""The report's figures, drawn from the tidy table and the pruning logs; each saved as PDF (paper) and PNG (notebook).

Every function returns the written paths, or ``[]`` when there is nothing to draw (the paper then says the part
was not run).  Styles come from :mod:`.palette`, so a method has the same colour, marker and dash everywhere.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from . import palette, published
from .analysis import mean_cells, with_retained

FIGURE_NAMES = ("effectiveness_vs_sparsity", "retained_vs_sparsity", "cost_frontier", "pqi", "layer_sparsity",
                "cross_task", "dsi_sparsity", "engine_latency")
TASK_LABELS = {"ranking": "Passage ranking", "classification": "Text classification", "translation": "Translation",
               "vision": "Image classification",
               "dsi": "Generative retrieval (DSI subset)"}
_MODEL_DASHES = ("-", "--", "-.", ":")
METRIC_LABELS = {"mrr@10": "MRR@10", "ndcg@10": "nDCG@10", "map": "MAP", "recall@10": "Recall@10",
                 "recall@100": "Recall@100", "recall@1000": "Recall@1000", "accuracy": "Accuracy",
                 "macro_f1": "Macro-F1", "bleu": "BLEU"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7,
                         "xtick.labelsize": 7, "ytick.labelsize": 7, "pdf.fonttype": 42, "axes.grid": True,
                         "grid.alpha": 0.3, "svg.hashsalt": "irprune", "figure.dpi": 100})
    return plt


def _save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    from ..io import atomic_open

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, kw in (("pdf", {"metadata": {"CreationDate": None, "ModDate": None}}), ("png", {"dpi": 150})):
        path = out_dir / f"{name}.{ext}"
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=ext, bbox_inches="tight", **kw)
        paths.append(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def _panels(plt: Any, n: int, height: float = 2.5) -> tuple[Any, list[Any]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.45 * cols, height * rows), squeeze=False, sharey=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _legend(fig: Any, axes: list[Any], ncol: int = 4) -> None:
    handles, labels = [], []
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(ncol, len(labels)), frameon=False,
                   bbox_to_anchor=(0.5, -0.02))
        height = fig.get_size_inches()[1]
        fig.tight_layout(rect=(0, (0.12 + 0.13 * math.ceil(len(labels) / ncol)) / height, 1, 1))
    else:
        fig.tight_layout()


def _method_line(ax: Any, g: Any, method: str, y: str = "value", band: bool = True, scale: float = 1.0) -> None:
    st = palette.method_style(method)
    g = g.sort_values("achieved_sparsity")
    x = g["achieved_sparsity"].to_numpy() * 100
    v = g[y].to_numpy() * scale
    ax.plot(x, v, color=st.color, marker=st.marker, linestyle=st.linestyle, markersize=3.5, linewidth=1.2,
            label=st.label)
    if band and (g["n_seeds"] > 1).any():
        sd = g["std"].to_numpy() * (scale if y == "value" else scale / g["dense_value"].to_numpy())
        if (g["n_seeds"] > 1).all():
            ax.fill_between(x, v - sd, v + sd, color=st.color, alpha=0.18, linewidth=0)
        else:       # a curve run at one seed with a few points at several (the grid's repeats): bars at those
            many = (g["n_seeds"] > 1).to_numpy()
            ax.errorbar(x[many], v[many], yerr=sd[many], fmt="none", ecolor=st.color, elinewidth=1.0, capsize=2.5)


def _ranking_models(df: Any, task: str) -> list[str]:
    present = set(df.loc[df["task"] == task, "model"]) - {"bm25"}
    return palette.model_order(present | set(palette.STUDY_MODELS) if task == "ranking" else present)


def effectiveness_vs_sparsity(df: Any, out_dir: Path, split: str = "test", metric: str = "mrr@10",
                              task: str = "ranking") -> list[Path]:
    """Effectiveness against achieved sparsity, a panel per model, a line per method (seed means; +/- one standard
    deviation over seeds as a band, or as bars where only some points have several seeds), dense (black, its seed
    spread shaded) and BM25 (grey, dotted) as reference lines."""
    sub = df[(df["split"] == split) & (df["task"] == task) & df[metric].notna()]
    if sub.empty:
        return []
    cells = mean_cells(sub, value=metric)
    models = _ranking_models(df, task)
    plt = _plt()
    fig, axes = _panels(plt, len(models))
    bm25 = cells[cells["method"] == "bm25"]["value"]
    for ax, model in zip(axes, models):
        mc = cells[cells["model"] == model]
        ax.set_title(palette.model_label(model))
        for method in palette.method_order(set(mc["method"]) - set(palette.REFERENCE_METHODS)):
            _method_line(ax, mc[mc["method"] == method], method)
        dense = mc[mc["method"] == "dense"]
        if not dense.empty:
            st = palette.method_style("dense")
            d = dense.iloc[0]
            ax.axhline(float(d["value"]), color=st.color, linestyle=st.linestyle, linewidth=1, label=st.label)
            if d["n_seeds"] > 1:            # the dense models' spread over training seeds
                ax.axhspan(float(d["value"] - d["std"]), float(d["value"] + d["std"]), color=st.color, alpha=0.1,
                           linewidth=0)
        if not bm25.empty:
            st = palette.method_style("bm25")
            ax.axhline(float(bm25.mean()), color=st.color, linestyle=st.linestyle, linewidth=1.2, label=st.label)
        if mc.empty or (mc["method"].isin(palette.REFERENCE_METHODS).all()):
            ax.text(0.5, 0.8, "not run" if mc.empty else "no pruned cells\n(not run)", transform=ax.transAxes,
                    ha="center", va="center", fontsize=8, color=palette.GREY)
        ax.set_xlim(0, 100)
        ax.set_xlabel("Sparsity (%)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    _legend(fig, axes)
    return _save(fig, out_dir, "effectiveness_vs_sparsity")


def retained_vs_sparsity(df: Any, out_dir: Path, split: str = "test", metric: str = "mrr@10",
                         keep_fractions: Iterable[float] = (0.95, 0.9), task: str = "ranking") -> list[Path]:
    """Percentage of the model's dense effectiveness retained against sparsity; horizontal lines at the keep
    fractions of the max-sparsity table."""
    sub = df[(df["split"] == split) & (df["task"] == task) & df[metric].notna()]
    cells = with_retained(mean_cells(sub, value=metric))
    pruned = cells[~cells["method"].isin(palette.REFERENCE_METHODS) & cells["retained"].notna()]
    if pruned.empty:
        return []
    models = palette.model_order(set(pruned["model"]))
    plt = _plt()
    fig, axes = _panels(plt, len(models))
    for ax, model in zip(axes, models):
        mc = pruned[pruned["model"] == model]
        ax.set_title(palette.model_label(model))
        for method in palette.method_order(set(mc["method"])):
            _method_line(ax, mc[mc["method"] == method], method, y="retained", scale=100.0)
        for k in keep_fractions:
            ax.axhline(100 * k, color=palette.GREY, linestyle=(0, (4, 2)), linewidth=0.8)
            ax.annotate(f"{100 * k:g}%", (1, 100 * k), xycoords=("axes fraction", "data"), xytext=(2, 0),
                        textcoords="offset points", fontsize=6, va="center", color=palette.GREY)
        ax.set_xlim(0, 100)
        ax.set_xlabel("Sparsity (%)")
        ax.set_ylabel(f"% of dense {METRIC_LABELS.get(metric, metric)}")
    _legend(fig, axes)
    return _save(fig, out_dir, "retained_vs_sparsity")


def cost_frontier(df: Any, out_dir: Path, split: str = "test", metric: str = "mrr@10",
                  task: str = "ranking") -> list[Path]:
    """Effectiveness against FLOPs of the sparse model per query-document pair (top row) and against measured
    latency per query (bottom row), a column per model; dense and BM25 as in the other figures."""
    sub = df[(df["split"] == split) & (df["task"] == task) & df[metric].notna()]
    cells = mean_cells(sub, value=metric)
    costed = cells[cells["flops_sparse"].notna() | cells["latency_ms_per_query"].notna()]
    costed = costed[costed["method"] != "bm25"]
    if costed.empty or not (~costed["method"].isin(palette.REFERENCE_METHODS)).any():
        return []
    models = palette.model_order(set(costed["model"]))
    plt = _plt()
    cols = len(models)
    fig, axes = plt.subplots(2, cols, figsize=(2.45 * cols, 4.6), squeeze=False)
    bm25 = cells[cells["method"] == "bm25"]["value"]
    for j, model in enumerate(models):
        mc = costed[costed["model"] == model]
        for i, (col, xlabel) in enumerate((("flops_sparse", "FLOPs per query-doc pair"),
                                           ("latency_ms_per_query", "Latency (ms per query)"))):
            ax = axes[i][j]
            if i == 0:
                ax.set_title(palette.model_label(model))
            scale, unit = 1.0, ""
            if col == "flops_sparse" and mc[col].notna().any():
                exp = int(math.floor(math.log10(max(float(mc[col].max()), 1.0))))
                scale, unit = 10.0 ** exp, f" ($\\times 10^{{{exp}}}$)"
            for method in palette.method_order(set(mc["method"])):
                g = mc[(mc["method"] == method) & mc[col].notna()].sort_values(col)
                if g.empty:
                    continue
                st = palette.method_style(method)
                ax.plot(g[col] / scale, g["value"], color=st.color, marker=st.marker or "o", markersize=3.5,
                        linestyle=st.linestyle if method != "dense" else "none", linewidth=1, label=st.label)
            if not bm25.empty:
                st = palette.method_style("bm25")
                ax.axhline(float(bm25.mean()), color=st.color, linestyle=st.linestyle, linewidth=1.2, label=st.label)
            if mc[col].notna().any():
                from matplotlib.ticker import MaxNLocator

                ax.xaxis.set_major_locator(MaxNLocator(4))
            else:
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", color=palette.GREY)
            ax.set_xlabel(xlabel + unit)
            ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    _legend(fig, list(axes.ravel()))
    return _save(fig, out_dir, "cost_frontier")


def _model_from_path(path: Path) -> str | None:
    """The model a pruning log belongs to: a path part named after it, or a cell folder ``<model>-<method>-...``."""
    for part in path.parts:
        if part in palette.MODELS:
            return part
        for model in palette.MODELS:
            if part.startswith(f"{model}-"):
                return model
    return None


def load_logs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Pruning logs (:class:`irprune.pruning.pqi.PruningLog` JSON) with their model read from the path."""
    from ..errors import DataFormatError

    logs = []
    for p in paths:
        data = json.loads(Path(p).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise DataFormatError("not a pruning log: no 'entries' list", path=p,
                                  fix="write logs with irprune.pruning.pqi.PruningLog.save")
        for i, e in enumerate(data["entries"]):
            missing = [k for k in ("iteration", "sparsity", "pqi") if k not in e]
            if missing:
                raise DataFormatError(f"entry {i} lacks {', '.join(missing)}", path=p,
                                      fix="write logs with irprune.pruning.pqi.PruningLog.save")
        if data["entries"]:
            e0 = data["entries"][-1]
            logs.append({"path": Path(p), "model": _model_from_path(Path(p)), "method": e0.get("method") or "",
                         "target": e0.get("target_sparsity"), "entries": data["entries"]})
    return logs


def pqi(df: Any, logs: list[dict[str, Any]], out_dir: Path, split: str = "test", main_method: str = "gmp",
        task: str = "ranking") -> list[Path]:
    """PQ Index (Diao et al. 2023) against achieved sparsity per model and method (left), and over the pruning
    iterations of ``main_method`` at the highest logged target sparsity of each model (right)."""
    sub = df[(df["split"] == split) & (df["task"] == task) & df["pqi"].notna()]
    cells = mean_cells(sub)
    cells = cells[~cells["method"].isin(palette.REFERENCE_METHODS)]
    main_logs = [l for l in logs if l["method"] in ("", main_method) and l["model"]]
    if cells.empty and not main_logs:
        return []
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.2, 2.7))
    for model in palette.model_order(set(cells["model"])):
        info = palette.model_info(model)
        for method in palette.method_order(set(cells.loc[cells["model"] == model, "method"])):
            g = cells[(cells["model"] == model) & (cells["method"] == method)].sort_values("achieved_sparsity")
            st = palette.method_style(method)
            a.plot(g["achieved_sparsity"] * 100, g["pqi"], color=st.color, marker=st.marker, markersize=3,
                   linestyle=info.linestyle, linewidth=1)
    a.set_xlabel("Sparsity (%)")
    a.set_ylabel("PQ Index, p=0.5, q=1 (kept weights)")
    a.set_title("PQ Index against sparsity")
    if cells.empty:
        a.text(0.5, 0.5, "no PQ Index in the table", transform=a.transAxes, ha="center", color=palette.GREY)
    best: dict[str, dict[str, Any]] = {}
    for l in main_logs:
        if l["model"] not in best or (l["target"] or 0) > (best[l["model"]]["target"] or 0):
            best[l["model"]] = l
    st = palette.method_style(main_method) if main_method in palette.METHOD_STYLES else palette.method_style("gmp")
    for model in palette.model_order(set(best)):
        l, info = best[model], palette.model_info(model)
        it = [e["iteration"] for e in l["entries"]]
        b.plot(it, [e["pqi"] for e in l["entries"]], color=st.color, linestyle=info.linestyle,
               marker=info.marker, markersize=3, linewidth=1,
               label=f"{info.label} (target {100 * (l['target'] or 0):.0f}%)")
    b.set_xlabel(f"Pruning iteration ({st.label})")
    b.set_ylabel("PQ Index, p=0.5, q=1 (kept weights)")
    b.set_title("PQ Index over pruning")
    if not best:
        b.text(0.5, 0.5, "no pruning log (not run)", transform=b.transAxes, ha="center", color=palette.GREY)
    if b.get_legend_handles_labels()[0]:
        b.legend(frameon=False, fontsize=6)
    if not cells.empty:  # compact key for the left panel: colour/marker = method, dash = model
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=palette.method_style(m).color, marker=palette.method_style(m).marker,
                          markersize=3, linestyle="-", label=palette.method_label(m))
                   for m in palette.method_order(set(cells["method"]))]
        handles += [Line2D([], [], color="black", linestyle=palette.model_info(m).linestyle,
                           label=palette.model_label(m)) for m in palette.model_order(set(cells["model"]))]
        fig.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), frameon=False, fontsize=6,
                   handlelength=3)
        fig.tight_layout(rect=(0, (0.15 + 0.12 * math.ceil(len(handles) / 5)) / 2.7, 1, 1))
    else:
        fig.tight_layout()
    return _save(fig, out_dir, "pqi")


def _short(name: str) -> str:
    parts = [p for p in name.replace(".weight", "").split(".") if p not in ("encoder", "layer", "bert", "model")]
    return ".".join(parts[-3:])


def layer_sparsity(logs: list[dict[str, Any]], out_dir: Path, main_method: str = "gmp",
                   target: float | None = None) -> list[Path]:
    """Achieved sparsity of every prunable tensor after ``main_method`` (last log entry), a panel per model, at
    ``target`` (or the highest logged target), with the overall sparsity as a dashed line."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for l in logs:
        if l["method"] in ("", main_method) and l["model"] and l["entries"][-1].get("per_tensor"):
            by_model.setdefault(l["model"], []).append(l)
    chosen: dict[str, dict[str, Any]] = {}
    for model, ls in by_model.items():
        exact = [l for l in ls if target is not None and l["target"] is not None and abs(l["target"] - target) < 1e-9]
        chosen[model] = exact[0] if exact else max(ls, key=lambda l: l["target"] or 0.0)
    if not chosen:
        return []
    plt = _plt()
    models = palette.model_order(set(chosen))
    fig, axes = plt.subplots(len(models), 1, figsize=(7.2, 1.9 * len(models) + 0.6), squeeze=False)
    st = palette.method_style(main_method) if main_method in palette.METHOD_STYLES else palette.method_style("gmp")
    for ax, model in zip(axes[:, 0], models):
        last = chosen[model]["entries"][-1]
        names = list(last["per_tensor"])
        vals = [100 * last["per_tensor"][n]["sparsity"] for n in names]
        x = np.arange(len(names))
        ax.bar(x, vals, color=st.color, width=0.8)
        ax.axhline(100 * last["sparsity"], color="black", linestyle="--", linewidth=0.8)
        step = max(1, math.ceil(len(names) / 40))
        ax.set_xticks(x[::step])
        ax.set_xticklabels([_short(n) for n in names][::step], rotation=90, fontsize=6)
        ax.set_ylim(0, 100)
        ax.set_ylabel("Sparsity (%)")
        ax.set_title(f"{palette.model_label(model)}: {st.label}, target "
                     f"{100 * (chosen[model]['target'] or last['sparsity']):.0f}%, "
                     f"overall {100 * last['sparsity']:.1f}% (dashed)")
        ax.grid(axis="x", visible=False)
    fig.tight_layout()
    return _save(fig, out_dir, "layer_sparsity")


def cross_task(df: Any, out_dir: Path, split: str = "test", keep_fractions: Iterable[float] = (0.95, 0.9),
               tasks: Iterable[str] = ("ranking", "classification", "translation", "vision")) -> list[Path]:
    """The cross-task comparison: percentage of the dense primary metric retained (MRR@10, accuracy, BLEU: each
    row's ``primary_metric``) against achieved sparsity, one panel per task (the rankers included), colour and
    marker per method (:mod:`.palette`), dash per model (named in the panel's own key).  The vision panel also
    draws the published ResNet-50 series (:mod:`.published`, Gale et al. 2019; black dots, as published) as the
    large-scale anchor.  Drawn only when a classification, translation or vision cell has a dense reference; a
    task without such cells says "not run"."""
    sub = df[(df["split"] == split) & df["primary_value"].notna()]
    cells = with_retained(mean_cells(sub))
    pruned = cells[~cells["method"].isin(palette.REFERENCE_METHODS) & cells["retained"].notna()]
    tasks = list(tasks)
    if not pruned["task"].isin([t for t in tasks if t != "ranking"]).any():   # DSI rows alone draw no panel
        return []
    plt = _plt()
    fig, axes = _panels(plt, len(tasks), height=2.6)
    from matplotlib.lines import Line2D

    for ax, task in zip(axes, tasks):
        tc = pruned[pruned["task"] == task]
        metrics = sorted(set(tc["primary_metric"]))
        ax.set_title(TASK_LABELS.get(task, task))
        keys = []
        for i, model in enumerate(palette.model_order(set(tc["model"]))):
            dash = _MODEL_DASHES[i % len(_MODEL_DASHES)]
            mc = tc[tc["model"] == model]
            for method in palette.method_order(set(mc["method"])):
                st = palette.method_style(method)
                g = mc[mc["method"] == method].sort_values("achieved_sparsity")
                ax.plot(g["achieved_sparsity"] * 100, g["retained"] * 100, color=st.color, marker=st.marker,
                        linestyle=dash, markersize=3.5, linewidth=1.1, label=st.label)
            keys.append(Line2D([], [], color="black", linestyle=dash, linewidth=1, label=palette.model_label(model)))
        if task == "vision":
            for (_, pmodel, pdata, pmethod), ps in published.series().items():
                if ps[0].domain == "vision":
                    ax.plot([100 * p.sparsity for p in ps], [100 * p.retained for p in ps], color="black",
                            marker=".", linestyle=":", linewidth=0.9, markersize=4,
                            label=f"{pmodel} on {pdata} (published)")
        for k in keep_fractions:
            ax.axhline(100 * k, color=palette.GREY, linestyle=(0, (4, 2)), linewidth=0.8)
        if tc.empty:
            ax.set_ylim(0, 105)
            ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", va="center", fontsize=9,
                    color=palette.GREY, bbox={"facecolor": "white", "edgecolor": "none"})
        elif len(keys) > 1:
            ax.add_artist(ax.legend(handles=keys, loc="lower left", frameon=False, fontsize=6, handlelength=2.5))
        else:
            ax.set_title(f"{TASK_LABELS.get(task, task)}\n({keys[0].get_label()})")
        ax.set_xlim(0, 100)
        ax.set_xlabel("Sparsity (%)")
        label = "/".join(METRIC_LABELS.get(m, m) for m in metrics) or "primary metric"
        ax.set_ylabel(f"% of dense {label}")
    _legend(fig, axes)
    return _save(fig, out_dir, "cross_task")


def remove_stale(out_dir: Path, written: Iterable[Path]) -> None:
    """Delete this module's figure files that the current run did not write (data gone = figure gone)."""
    keep = {Path(p).resolve() for p in written}
    for name in FIGURE_NAMES:
        for ext in ("pdf", "png"):
            p = out_dir / f"{name}.{ext}"
            if p.exists() and p.resolve() not in keep:
                p.unlink()
