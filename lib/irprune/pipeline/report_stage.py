"""Report stage: figures, tables and LaTeX macros from the tidy results table (and, optionally, the PDF)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..io import atomic_write_text, read_json
from ..paths import TASK_RECORDS
from ..report import buys as buys_report
from ..report import config as rc
from ..report import dense as dense_report
from ..report import dsi as dsi_report
from ..report import engines as engine_report
from ..report import prunable as prunable_report
from ..report import figures, macros, realtext, tables
from ..report.results import cell_files, read_table


@dataclass
class ReportResult:
    figures: list[Path]
    tables: dict[str, Any]              # name -> tables.Table
    macros: Any                         # macros.Macros
    timings: dict[str, float] = field(default_factory=dict)
    pdf: Path | None = None

    def markdown(self) -> str:
        """Every table as Markdown (for the notebook)."""
        return "\n".join(t.markdown() for t in self.tables.values())

    def question_one(self) -> str:
        """Research question 1's generated answer under the main method, per ranker, as Markdown (the text of the
        paper's ``\\<Model><Method>QOneText`` macros), then what that sparsity buys in measured time
        (``\\<Model>BuysText``, ``\\StructuredBuysText``)."""
        v = self.macros.values
        lines = [f"- **{name[:-len('QOneText')]}**: {text}" for name, text in v.items()
                 if name.endswith("QOneText")]
        buys = [f"- **{name[:-len('BuysText')]}**: {text}" for name, text in v.items() if name.endswith("BuysText")
                and name != "StructuredBuysText"]
        buys.append(f"- **Structured**: {v.get('StructuredBuysText', '')}")
        out = "\n".join(lines + ["", v.get("QOneSeedTestText", ""), "", "What it buys in measured time:"] + buys)
        for latex, plain in (("$\\pm$", "±"), ("\\%", "%"), ("$\\alpha", "α"), ("$\\times$", "×"), ("$", "")):
            out = out.replace(latex, plain)
        return out


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def run(cfg: Any, root: Path = Path("."), results_csv: Path = rc.RESULTS_CSV, figures_dir: Path = rc.FIGURES,
        generated_dir: Path = rc.GENERATED, card_path: Path = Path("data/card.json"),
        bm25_path: Path = Path("metrics/bm25.json"), hw: dict | None = None) -> ReportResult:
    """Render everything the paper ``\\input``s; with ``cfg.report.build_pdf`` also build the PDF."""
    r, root = cfg.report, Path(root)
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    df = read_table(root / results_csv)
    card = _json(root / card_path) or {}
    bm25 = _json(root / bm25_path) or {}
    logs = figures.load_logs(cell_files(r.pruning_log_globs, root))
    dsi = dsi_report.load(root)
    dense = dense_report.load(root)
    t["read_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    out = root / figures_dir
    figs = (figures.effectiveness_vs_sparsity(df, out, r.split, r.primary_metric)
            + figures.retained_vs_sparsity(df, out, r.split, r.primary_metric, r.keep_fractions)
            + figures.cost_frontier(df, out, r.split, r.primary_metric)
            + figures.pqi(df, logs, out, r.split, r.main_method)
            + figures.layer_sparsity(logs, out, r.main_method, r.compare_sparsity)
            + figures.cross_task(df, out, r.split, r.keep_fractions)
            + dsi_report.figure(dsi, out)
            + dense_report.figure(dense, df, out, r.split)
            + engine_report.figure(df, out, r.split, r.main_method))
    figures.remove_stale(out, figs)
    t["figures_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pruned, tests = tables.pruned_key(df, r.split, r.primary_metric, r.key_sparsities, r.sparsity_tolerance,
                                      cfg.significance, root=str(root))
    maxsp, _ = tables.max_sparsity(df, r.keep_fractions, r.split)
    cross, _ = tables.cross_task(df, r.keep_fractions, r.split)
    tabs = {t_.name: t_ for t_ in (tables.dense_baselines(df, r.split), pruned, maxsp, tables.comparison(df),
                                    cross, dsi_report.table(dsi, df, card, r.split),
                                    dense_report.table(dense, bm25, r.split),
                                    prunable_report.table(df, r.split, r.compare_sparsity, r.sparsity_tolerance),
                                    engine_report.table(df, r.split, r.main_method),
                                    buys_report.table(df, buys_report.high_sparsities(r.key_sparsities,
                                                                                      r.question_sparsity),
                                                      r.split, r.primary_metric, r.main_method))}
    real, real_rows = realtext.report([root, *(root / f for f in r.fold_runs)], cfg.significance)
    signal = None
    if real is not None:
        tabs["realtext"] = realtext.table(real, real_rows, cfg.significance)
        signal = realtext.training_signal(root, real.seeds)
        if signal is not None:
            tabs["realtext_signal"] = realtext.signal_table(signal)
    gen = root / generated_dir
    for stale in ("realtext.tex", "realtext.md", "realtext_signal.tex", "realtext_signal.md"):  # none when synthetic
        (gen / stale).unlink(missing_ok=True)
    tables.write_tables(tabs.values(), gen)
    atomic_write_text(gen / "tables.md", "\n".join(t_.markdown() for t_ in tabs.values()))
    t["tables_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    syn = cfg.data.synthetic if card.get("source", cfg.data.source) == "synthetic" else None
    m = macros.build(df, r, cfg.significance, card, syn, bm25, hw, n_tested=len(tests),
                     n_significant=sum(x.significant for x in tests.values()))
    macros.add_question_one(m, df, r, cfg.significance, root)
    dsi_report.add_macros(m, dsi, r.question_keep, r.sparsity_tolerance)
    dense_report.add_macros(m, dense, r.question_keep)
    prunable_report.add_macros(m, df, r.split, r.compare_sparsity, r.sparsity_tolerance)
    engine_report.add_macros(m, df, r.split, r.main_method)
    buys_report.add_macros(m, df, r)
    macros.add_bert_start(m, _bert_start(root))
    realtext.add_macros(m, real, real_rows, signal, cfg.significance)
    macros.add_vision_data(m, [_json(p) or {} for p in sorted((root / TASK_RECORDS).glob("vision-*.json"))])
    atomic_write_text(gen / "macros.tex", m.render())
    t["macros_s"] = time.perf_counter() - t0

    pdf = None
    if r.build_pdf:
        from ..report.paper import build_pdf

        t0 = time.perf_counter()
        pdf = build_pdf(root / rc.PAPER_TEX)
        t["pdf_s"] = time.perf_counter() - t0
    print(f"report: {len(figs) // 2} figure(s), {len(tabs)} tables, {len(m.values)} macros -> {gen}")
    return ReportResult(figs, tabs, m, t, pdf)


def _bert_start(root: Path) -> dict[str, Any] | None:
    """What monoBERT started from, as its train stage recorded it at the lowest training seed run (None when
    monoBERT was not trained)."""
    runs = paths.trained_metrics("monobert", root)
    if not runs:
        return None
    path = next(iter(runs.values()))
    start = read_json(path).get("start")
    return start if isinstance(start, dict) else None
