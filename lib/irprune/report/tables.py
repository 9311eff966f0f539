"""The report's tables, rendered from the tidy table as LaTeX (booktabs) and Markdown (the report notebook).

Tables shrink to the text width (adjustbox).  Cells are written as plain Unicode text; :func:`latex_escape`
turns it into LaTeX (``†`` -> ``$^\\dagger$``,
``−`` -> ``$-$``, ``%`` -> ``\\%``).  Missing cells read "not run"; significance marks follow a paired test
against dense with Holm's correction over every comparison of the table (stated in the caption).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence


from ..significance import SignificanceConfig
from . import palette, published
from .analysis import Keep, Test, at_sparsity, max_sparsity_keeping, mean_cells, significance_vs_dense, \
    task_keeping, with_retained
from .figures import METRIC_LABELS, TASK_LABELS

NOT_RUN = "not run"
TEST_NAMES = {"t-test": "paired t-test", "randomization": "paired randomization test",
              "wilcoxon": "Wilcoxon signed-rank test"}
DAGGER = "†"
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "$": r"\$", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "†": r"$^{\dagger}$", "−": r"$-$", "±": r"$\pm$",
          "≥": r"$\geq$", "α": r"$\alpha$", "—": "---", "–": "--", "×": r"$\times$"}


class Cite(str):
    """A table cell holding a citation key: ``\\cite{key}`` in LaTeX, ``[key]`` in Markdown."""


def latex_escape(text: str) -> str:
    if isinstance(text, Cite):
        return rf"\cite{{{text}}}"
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


@dataclass(frozen=True)
class Table:
    """A rendered-on-demand table: header, rows of plain-text cells, caption (plain text) and label."""

    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str
    label: str
    align: str = ""
    group_rows: tuple[int, ...] = ()  # row indices after which a \midrule separates groups

    def latex(self) -> str:
        align = self.align or "l" * len(self.header)
        out = [r"\begin{table}[tbp]", r"\centering", r"\small", rf"\caption{{{latex_escape(self.caption)}}}",
               rf"\label{{{self.label}}}", r"\begin{adjustbox}{max width=\linewidth}",
               rf"\begin{{tabular}}{{{align}}}", r"\toprule",
               " & ".join(latex_escape(h) for h in self.header) + r" \\", r"\midrule"]
        for i, row in enumerate(self.rows):
            out.append(" & ".join(latex_escape(c) for c in row) + r" \\")
            if i in self.group_rows and i != len(self.rows) - 1:
                out.append(r"\midrule")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{adjustbox}", r"\end{table}", ""]
        return "\n".join(out)

    def markdown(self) -> str:
        def esc(c: str) -> str:
            return f"[{c}]" if isinstance(c, Cite) else str(c).replace("|", r"\|")

        out = [f"**{esc(self.caption)}**", "", "| " + " | ".join(esc(h) for h in self.header) + " |",
               "|" + "|".join("---" if a == "l" else "---:" for a in (self.align or "l" * len(self.header))
                              .replace("@{}", "")) + "|"]
        out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.rows]
        return "\n".join(out) + "\n"


def fmt(x: float | None, digits: int = 3) -> str:
    return NOT_RUN if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def fmt_count(x: float | None) -> str:
    """Human count: 110M, 2.1M, 950k, or 'n/a'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def p_text(p: float | None) -> str:
    """A p-value as the paper prints it: 0.0497 (not 0.050), 3.1e-05; missing -> "not run"."""
    return NOT_RUN if p is None else (f"{p:.1e}" if p < 1e-3 else f"{p:.3g}")


def pct(x: float, digits: int = 1, signed: bool = False) -> str:
    s = f"{100 * x:+.{digits}f}%" if signed else f"{100 * x:.{digits}f}%"
    return s.replace("-", "−")


def _models(df: Any, task: str = "ranking") -> list[str]:
    present = set(df.loc[df["task"] == task, "model"]) - {"bm25"}
    return palette.model_order(present | set(palette.STUDY_MODELS))


def dense_baselines(df: Any, split: str = "test", task: str = "ranking") -> Table:
    """BM25 and every dense ranker: effectiveness (seed mean) and cost; models without rows read 'not run'."""
    metrics = ("mrr@10", "ndcg@10", "map", "recall@100")
    sub = df[(df["split"] == split) & (df["task"] == task)]
    rows = []
    for model in ["bm25"] + _models(df, task):
        method = "bm25" if model == "bm25" else "dense"
        r = sub[(sub["model"] == model) & (sub["method"] == method)]
        if r.empty:
            rows.append((palette.model_label(model),) + (NOT_RUN,) * len(metrics) + ("", "", "", ""))
            continue
        vals = tuple(fmt(float(r[m].mean())) if r[m].notna().any() else "n/a" for m in metrics)
        seeds = f"{len(r)}"
        cost = tuple(fmt_count(float(r[c].mean())) if r[c].notna().any() else "n/a"
                     for c in ("total_params", "flops_dense"))
        lat = f"{float(r['latency_ms_per_query'].mean()):.3g}" if r["latency_ms_per_query"].notna().any() else "n/a"
        rows.append((palette.model_label(model),) + vals + cost + (lat, seeds))
    header = ("Model",) + tuple(METRIC_LABELS[m] for m in metrics) + ("Params", "FLOPs/pair", "ms/query", "Seeds")
    return Table("dense_baselines", header, tuple(rows),
                 f"Unpruned baselines on the {split} split (mean over seeds). FLOPs count multiply-adds of one "
                 "query–document pair; latency is measured per query over its candidate list.",
                 "tab:dense", "l" + "r" * (len(header) - 1), group_rows=(0,))


def pruned_key(df: Any, split: str = "test", metric: str = "mrr@10", key_sparsities: Sequence[float] = (0.5, 0.8,
               0.9, 0.95), tol: float = 0.02, sig: SignificanceConfig | None = None, root: str = ".",
               task: str = "ranking") -> tuple[Table, dict[tuple[str, str, float], Test]]:
    """Each model x method at the key sparsities: seed-mean ``metric``, change against dense, and ``†`` where a
    paired test against dense is significant after Holm's correction over every cell of the table."""
    sig = sig or SignificanceConfig()
    sub = df[(df["split"] == split) & (df["task"] == task) & df[metric].notna()]
    cells = with_retained(mean_cells(sub, value=metric))
    pruned = cells[~cells["method"].isin(palette.REFERENCE_METHODS)]
    plan: list[tuple[str, str, float, Any]] = []
    for model in _models(df, task):
        for method in palette.method_order(set(pruned.loc[pruned["model"] == model, "method"])):
            mc = pruned[(pruned["model"] == model) & (pruned["method"] == method)]
            for s in key_sparsities:
                hit = at_sparsity(mc, s, tol)
                plan.append((model, method, s, None if hit.empty else hit.iloc[
                    (hit["achieved_sparsity"] - s).abs().argsort().iloc[0]]))
    keys = [(m, me, float(row["target_sparsity"])) for m, me, s, row in plan if row is not None]
    tests = significance_vs_dense(df, keys, split, metric, sig, root=root, task=task)
    rows, groups = [], []
    for model in _models(df, task):
        mine = [p for p in plan if p[0] == model]
        if not mine:
            rows.append((palette.model_label(model), NOT_RUN) + ("—",) * len(key_sparsities))
            groups.append(len(rows) - 1)
            continue
        for i, method in enumerate(dict.fromkeys(p[1] for p in mine)):
            row = [palette.model_label(model) if i == 0 else "", palette.method_label(method)]
            for _, _, s, c in (p for p in mine if p[1] == method):
                if c is None:
                    row.append("—")
                    continue
                txt = fmt(float(c["value"]))
                if not math.isnan(c["retained"]):
                    txt += f" ({pct(c['retained'] - 1, signed=True)})"
                t = tests.get((model, method, float(c["target_sparsity"])))
                if t is not None and t.significant:
                    txt += DAGGER
                row.append(txt)
            rows.append(tuple(row))
        groups.append(len(rows) - 1)
    n = len(tests)
    caption = (f"{METRIC_LABELS.get(metric, metric)} on the {split} split at the key sparsities (mean over seeds; "
               f"change against the model's dense ranker in parentheses). {DAGGER}: differs from dense in a "
               f"{TEST_NAMES.get(sig.test, sig.test)} on per-query scores, Holm-corrected over the {n} tested cells "
               f"of this table at α = {sig.alpha:g}. —: not run.")
    header = ("Model", "Method") + tuple(f"{100 * s:g}%" for s in key_sparsities)
    return (Table("pruned_key", header, tuple(rows), caption, "tab:pruned", "ll" + "r" * len(key_sparsities),
                  tuple(groups)), tests)


def max_sparsity(df: Any, keeps: Sequence[float] = (0.95, 0.9), split: str = "test",
                 task: str = "ranking") -> tuple[Table, dict[float, dict[Any, Keep]]]:
    """The highest achieved sparsity at which each model (best method) and each model x method keeps ``keeps``
    of its dense primary metric."""
    sub = df[df["split"] == split]
    by_model = {k: max_sparsity_keeping(sub, k, by="model", task=task) for k in keeps}
    by_method = {k: max_sparsity_keeping(sub, k, by="method", task=task) for k in keeps}

    def show(k: Keep | None, with_method: bool) -> str:
        if k is None or k.status == "not run":
            return NOT_RUN
        if k.status == "none":
            return "none"
        return pct(k.achieved_sparsity) + (f" ({palette.method_label(k.method)})" if with_method else "")

    rows, groups = [], []
    for model in _models(df, task):
        methods = palette.method_order({km[1] for km in by_method[keeps[0]] if km[0] == model})
        rows.append((palette.model_label(model), "best") + tuple(show(by_model[k].get(model), True) for k in keeps))
        for method in methods:
            rows.append(("", palette.method_label(method)) + tuple(show(by_method[k].get((model, method)), False)
                                                                   for k in keeps))
        groups.append(len(rows) - 1)
    header = ("Model", "Method") + tuple(f"keeps ≥ {100 * k:g}%" for k in keeps)
    return (Table("max_sparsity", header, tuple(rows),
                  "Highest achieved sparsity at which a model keeps the given share of its dense effectiveness "
                  f"(primary metric, {split} split, mean over seeds). none: no pruned cell keeps it.",
                  "tab:maxsparsity", "ll" + "r" * len(keeps), tuple(groups)), by_model)


def comparison(df: Any, sparsities: Sequence[float] = (0.8, 0.9, 0.95, 0.97), split: str = "test", tol: float = 0.02,
               task: str = "ranking") -> Table:
    """Published vision/NLP results next to this study's rankers (best method per model) at the same
    sparsities; retained = sparse / dense."""
    rows = []
    for p in published.PUBLISHED:
        rows.append((p.model, p.task, p.method, p.metric, f"{p.dense:.2f}", pct(p.sparsity, 0), f"{p.value:.2f}",
                     pct(p.retained), Cite(p.key)))
    n_pub = len(rows)
    cells = with_retained(mean_cells(df[(df["split"] == split) & (df["task"] == task)]))
    pruned = cells[~cells["method"].isin(palette.REFERENCE_METHODS) & cells["retained"].notna()]
    for model in _models(df, task):
        if not (pruned["model"] == model).any():
            rows.append((palette.model_label(model), "this study", NOT_RUN, "", "", "—", "", "", ""))
            continue
        for s in sparsities:
            hit = at_sparsity(pruned[pruned["model"] == model], s, tol)
            if hit.empty:
                rows.append((palette.model_label(model), "this study", NOT_RUN, "", "", pct(s, 0), "", "", ""))
                continue
            b = hit.sort_values("retained", ascending=False).iloc[0]
            rows.append((palette.model_label(model), "this study", palette.method_label(b["method"]),
                         METRIC_LABELS.get(b["primary_metric"], b["primary_metric"]), f"{b['dense_value']:.3f}",
                         pct(s, 0), f"{b['value']:.3f}", pct(b["retained"]), ""))
    return Table("comparison", ("Model", "Task", "Method", "Metric", "Dense", "Sparsity", "Sparse", "Retained",
                                "Source"), tuple(rows),
                 "Published pruning results (as published) and this study's rankers (best method per model) at "
                 "matching sparsities. Retained = sparse / dense.", "tab:comparison", "llllrrrrl",
                 group_rows=(n_pub - 1,))


def cross_task(df: Any, keeps: Sequence[float] = (0.95, 0.9), split: str = "test"
               ) -> tuple[Table, dict[float, dict[tuple[str, str], Keep]]]:
    """The cross-task comparison: for each ranker and each classification/translation/vision model, the highest
    achieved sparsity (and the method reaching it) that keeps ``keeps`` of its dense primary metric
    (:func:`irprune.report.analysis.task_keeping`), then the published series (:mod:`.published`) at the
    sparsities their authors report, the vision series (ResNet-50) first, right below this study's vision rows.
    A task without rows reads "not run"."""
    by_task = {k: task_keeping(df, k, split) for k in keeps}
    sub = df[(df["split"] == split) & (df["method"] == "dense")]

    def show(k: Keep | None) -> str:
        if k is None or k.status == "not run":
            return NOT_RUN
        if k.status == "none":
            return "none"
        return f"{pct(k.achieved_sparsity)} ({palette.method_label(k.method)})"

    rows, groups = [], []
    for task in ("ranking", "classification", "translation", "vision"):
        models = [m for t, m in by_task[keeps[0]] if t == task]
        if not models:
            rows.append((TASK_LABELS[task], NOT_RUN, "", "") + (NOT_RUN,) * len(keeps) + ("",))
        for i, model in enumerate(palette.model_order(set(models))):
            d = sub[(sub["task"] == task) & (sub["model"] == model)]
            metric = str(d["primary_metric"].iloc[0]) if not d.empty else ""
            dense = "" if d.empty else f"{float(d['primary_value'].mean()):.{1 if metric == 'bleu' else 3}f}"
            rows.append((TASK_LABELS[task] if i == 0 else "", palette.model_label(model),
                         METRIC_LABELS.get(metric, metric), dense or NOT_RUN)
                        + tuple(show(by_task[k].get((task, model))) for k in keeps) + ("this study",))
        groups.append(len(rows) - 1)
    pub = {k: published.max_sparsity_keeping(k) for k in keeps}
    order = sorted(pub[keeps[0]], key=lambda s: published.series()[s][0].domain != "vision")  # stable: vision first
    for i, (key, model, data, method) in enumerate(order):
        first = published.series()[(key, model, data, method)][0]

        def pshow(p: published.Published | None) -> str:
            return "none reported" if p is None else f"{pct(p.sparsity, 0)} ({pct(p.retained)})"

        rows.append((f"{data} ({first.domain})", f"{model}, {method}", first.metric, f"{first.dense:.2f}")
                    + tuple(pshow(pub[k][(key, model, data, method)]) for k in keeps) + (Cite(key),))
    header = ("Task", "Model", "Metric", "Dense") + tuple(f"keeps ≥ {100 * k:g}%" for k in keeps) + ("Source",)
    caption = ("Cross-task comparison: the highest achieved sparsity at which a model keeps the given share of its "
               f"dense primary metric ({split} split, mean over seeds; best method in parentheses), among the "
               "sparsities run; published results (as published) among the sparsities their authors report, with "
               "the share kept in parentheses. none: no sparsity run keeps it.")
    return (Table("cross_task", header, tuple(rows), caption, "tab:crosstask",
                  "lllr" + "r" * len(keeps) + "l", tuple(groups)), by_task)


def write_tables(tables: Iterable[Table], out_dir: Any) -> list[Any]:
    """Write ``<name>.tex`` and ``<name>.md`` for each table, atomically."""
    from pathlib import Path

    from ..io import atomic_write_text

    out_dir = Path(out_dir)
    written = []
    for t in tables:
        atomic_write_text(out_dir / f"{t.name}.tex", t.latex())
        atomic_write_text(out_dir / f"{t.name}.md", t.markdown())
        written += [out_dir / f"{t.name}.tex", out_dir / f"{t.name}.md"]
    return written
