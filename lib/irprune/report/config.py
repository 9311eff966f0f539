"""Configs of the ``collect``, ``report`` and ``paper`` stages and the files they read and write.

``CollectStage`` / ``ReportStage`` / ``PaperStage`` are the stage configs to register in
:data:`irprune.stages.STAGES`; their fields are the ``params.yaml`` sections each stage reads.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError, frozen, param
from ..data.config import DataConfig
from ..significance import SignificanceConfig

# Files of the report stages (relative to the project root; the lead may move these into irprune.paths).
RESULTS_CSV = Path("results") / "results.csv"              # the tidy results table, one row per cell
RESULTS_PARQUET = Path("results") / "results.parquet"      # the same table as parquet (optional)
SUMMARY = Path("metrics") / "summary.json"                 # headline numbers for `dvc metrics show`
SPARSITY_PLOT = Path("plots") / "sparsity_curves.csv"      # `dvc plots` data (template: report/sparsity_plot.json)
FIGURES = Path("figures")                                  # PDF (paper) and PNG (notebook) figures
REPORT = Path("report")
PAPER_TEX = REPORT / "paper.tex"
PAPER_PDF = REPORT / "paper.pdf"
GENERATED = REPORT / "generated"                           # tables (.tex, .md) and macros.tex


@frozen
class CollectConfig:
    """Where the collector finds the per-cell metrics JSON files (``params.yaml`` section ``collect``)."""

    cell_globs: tuple[str, ...] = param(("metrics/train/*.json", "metrics/prune/**/*.json",
                                         "metrics/cells/**/*.json"),
                                        doc="glob patterns (from the project root) of per-cell metrics JSON files")
    bm25_metrics: str = param("metrics/bm25.json", nonempty=True, doc="BM25 stage metrics; a row per split")
    bm25_per_query: str = param("runs/bm25/per_query.json", doc="BM25 per-query scores (split -> metric -> qid)")
    write_parquet: bool = param(False, doc="also write results/results.parquet")


@frozen
class ReportConfig:
    """What the report shows (``params.yaml`` section ``report``)."""

    split: str = param("test", nonempty=True, doc="evaluation split the figures, tables and macros report")
    primary_metric: str = param("mrr@10", nonempty=True, doc="ranking metric of the figures and answers")
    key_sparsities: tuple[float, ...] = param((0.5, 0.8, 0.9, 0.95), nonempty=True, ge=0.0, lt=1.0,
                                              doc="sparsities of the main results table")
    keep_fractions: tuple[float, ...] = param((0.95, 0.9), nonempty=True, gt=0.0, le=1.0,
                                              doc="fractions of dense effectiveness in the max-sparsity table")
    question_sparsity: float = param(0.8, ge=0.0, lt=1.0, doc="research question 1: 'high sparsity' means >= this")
    question_keep: float = param(0.95, gt=0.0, le=1.0, doc="research question 1: 'retain' means >= this fraction")
    compare_sparsity: float = param(0.9, ge=0.0, lt=1.0, doc="sparsity of the comparison with published results")
    sparsity_tolerance: float = param(0.02, ge=0.0, le=0.1,
                                      doc="achieved sparsity within this of a key sparsity counts as at it")
    target_keep: float = param(0.9, gt=0.0, le=1.0, doc="the main method's target: keep this share of dense at "
                                                        "compare_sparsity (default: 90% of dense at 90% sparsity)")
    main_method: str = param("gmp", nonempty=True, doc="method whose per-layer sparsity and PQI are drawn")
    pruning_log_globs: tuple[str, ...] = param(("runs/prune/**/pruning_log.json",),
                                               doc="PruningLog JSON files (irprune.pruning.pqi.PruningLog.save)")
    build_pdf: bool = param(False, doc="build the PDF in the report stage too (the paper stage always does)")
    fold_runs: tuple[str, ...] = param((), doc="project folders of the finished runs of the other folds "
                                               "(data.splits.method: folds); the real-text section pools their "
                                               "per-query test scores with this run's (empty: this run alone)")

    def validate(self) -> None:
        if len(set(self.key_sparsities)) != len(self.key_sparsities):
            raise ConfigError(f"params.yaml: report.key_sparsities lists a sparsity twice: {self.key_sparsities}")


@frozen
class CollectStage:
    """Gather every stage's metrics into the tidy results table, the DVC summary and the plot files."""

    collect: CollectConfig = param(CollectConfig)


@frozen
class ReportStage:
    """Figures, tables and LaTeX macros from the tidy results table, the dataset card and BM25."""

    report: ReportConfig = param(ReportConfig)
    significance: SignificanceConfig = param(SignificanceConfig)
    data: DataConfig = param(DataConfig)

    def validate(self) -> None:
        if self.report.fold_runs and self.data.splits.method != "folds":
            raise ConfigError(f"params.yaml: report.fold_runs lists {len(self.report.fold_runs)} run(s) of other "
                              f"folds but data.splits.method is {self.data.splits.method!r}; set "
                              "data.splits.method: folds or report.fold_runs: []")


@frozen
class PaperStage:
    """Build report/paper.pdf with latexmk (reads no parameters)."""
