"""The paper: its prose holds no typed number, every macro it uses is generated, and it builds to a PDF with the
expected sections, figures and tables from a tiny fake grid and from BM25 alone (latexmk needed for those)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from irprune.config import from_mapping
from irprune.pipeline import collect_stage, report_stage
from irprune.report import paper
from irprune.report.config import CollectStage, ReportStage

from conftest import ROOT
from test_report_fakegrid import TASK_PAIRS, write_dsi, write_grid, write_task_grid

TEX = ROOT / "report" / "paper.tex"
HW = {"cpu": "Test CPU", "cores": "2", "gpu": "none", "torch": "2.0", "python": "3.11"}
LATEX_BUILTINS = {"IfFileExists"}  # uppercase-initial control words of LaTeX itself that paper.tex uses


def _prose(tex: str) -> str:
    """paper.tex without comments, citations, labels/refs, file names, options, lengths and macro names."""
    s = re.sub(r"(?<!\\)%.*", "", tex)
    commands = (r"cite[pt]?|ref|label|input|bibliography|bibliographystyle|includegraphics|IfFileExists|"
                r"graphicspath|usepackage|documentclass|studyfigure|studytable")
    s = re.sub(rf"\\({commands})\s*(\[[^\]]*\])*\{{[^{{}}]*(\{{[^{{}}]*\}})*[^{{}}]*\}}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)                                           # optional arguments
    s = re.sub(r"\d*\.?\d+\s*(pt|em|ex|cm|mm|in|\\linewidth|\\textwidth)", " ", s)  # lengths
    s = re.sub(r"#\d", " ", s)                                                  # macro parameters
    s = re.sub(r"\\[A-Za-z]+", " ", s)                                          # control words
    return s


def test_paper_prose_has_no_typed_numbers():
    prose = _prose(TEX.read_text())
    bad = [line.strip() for line in prose.splitlines() if re.search(r"\d", line)]
    assert not bad, f"digits in paper.tex prose (use a generated macro): {bad}"


def test_digit_check_catches_a_typed_number():
    assert re.search(r"\d", _prose(r"MRR drops by 5\% at \BertName{} \cite{x1} \label{s:2}"))
    assert not re.search(r"\d", _prose(r"\includegraphics[width=0.5\linewidth]{f1.pdf} \ref{tab:2}"))


def _report(root: Path, build_pdf: bool) -> report_stage.ReportResult:
    (root / "report").mkdir(parents=True, exist_ok=True)
    for f in ("paper.tex", "references.bib"):
        shutil.copy(ROOT / "report" / f, root / "report" / f)
    collect_stage.run(CollectStage(), root=root)
    cfg = from_mapping(ReportStage, {"report": {"build_pdf": build_pdf}})
    return report_stage.run(cfg, root=root, hw=HW)


HAVE_LATEX = shutil.which("latexmk") is not None
latex = pytest.mark.skipif(not HAVE_LATEX, reason="latexmk not installed; " + paper.INSTALL_HINT)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, report_stage.ReportResult]:
    """A tiny grid (two of the three rankers, two methods, three sparsities, two seeds) plus the cross-task cells
    of classification and translation and a fake DSI (dense + two methods at two sparsities), reported once."""
    root = write_grid(tmp_path_factory.mktemp("tiny"), models={"conv_knrm": 0.5, "conformer_kernel": 0.45},
                      methods={"gmp": (0.85, 10.0), "random": (0.3, 3.0)}, sparsities=(0.5, 0.8, 0.9),
                      seeds=(0, 1), n_queries=30)
    write_task_grid(root, pairs={**TASK_PAIRS, ("vision", "lenet"): (0.98, "accuracy")}, sparsities=(0.5, 0.9))
    record = root / "metrics" / "task_records" / "vision-lenet-dense-0-0.json"   # what the report reads of the data
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"task": "vision", "method": "dense", "data": {
        "dataset": "digits", "n_train": 1438, "n_test": 359, "image_shape": [1, 8, 8]}}))
    write_dsi(root)
    return root, _report(root, build_pdf=HAVE_LATEX)


@pytest.fixture(scope="module")
def bm25_only(tmp_path_factory) -> tuple[Path, report_stage.ReportResult]:
    root = write_grid(tmp_path_factory.mktemp("bm25"), models={}, methods={})
    return root, _report(root, build_pdf=HAVE_LATEX)


def test_every_macro_the_paper_uses_is_generated(tiny, bm25_only):
    tex = TEX.read_text()
    own = set(re.findall(r"\\newcommand\{\\(\w+)\}", tex))
    used = {n for n in re.findall(r"\\([A-Z][A-Za-z]*)", re.sub(r"(?<!\\)%.*", "", tex))} - own - LATEX_BUILTINS
    used_ifs = set(re.findall(r"\\if([A-Z][A-Za-z]*)", tex))
    for root, result in (tiny, bm25_only):
        assert used - set(result.macros.values) == set(), root
        assert used_ifs - set(result.macros.flags) == set(), root


def _pdf_text(root: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (Debian/Ubuntu: apt-get install poppler-utils)")
    text = subprocess.run(["pdftotext", str(root / "report" / "paper.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    return " ".join(text.split())  # one running text: line breaks do not split the phrases checked


@latex
def test_pdf_from_a_tiny_grid_has_sections_figures_and_tables(tiny):
    root, r = tiny
    assert r.pdf is not None and r.pdf.is_file() and len(r.figures) == 18  # nine figures, PDF + PNG
    text = _pdf_text(root)
    for section in ("Introduction", "Setup", "Results", "Comparison with published results", "Answers",
                    "Generative retrieval: DSI", "References"):
        assert section in text, section
    for i in range(1, 10):
        assert f"Figure {i}:" in text
    for i in range(1, 11):
        assert f"Table {i}:" in text
    assert "Not run: the results this figure draws" not in text    # all nine figures were drawn
    assert "Real text" not in text and "Table 11:" not in text      # a synthetic run has no real-text section
    # what the sparsity covers, and the measured latency with the machine that timed it
    assert "What the sparsity covers" in text and "prunable weights are" in text
    assert "Measured speed-up over the dense ranker" in text and "Fake CPU 9000" in text
    assert "ONNX Runtime" in text and "OpenVINO" in text
    assert "BM25 (same documents)" in text and "does not reach BM25" in text    # the fake DSI: MAP below BM25
    assert "was still improving when its step budget ended" in text              # its dev curve still rising
    assert "Not run: DSI" not in text and "Not run: no DSI pruning cell" not in text
    assert "Text classification" in text and "Seq2Seq" in text     # the cross-task table and prose
    assert "Image classification" in text and "LeNet-5" in text and "small-scale" in text   # the vision rows
    assert "8×8 digits" in text and "not a run of our code" in text
    assert "Other tasks under the same pruning" in text and "has not been run" not in text
    assert "monoBERT" in text and "not run" in text                # the model without rows says so
    assert "??" not in text                                        # every \ref and \cite resolved
    assert "synthetic default collection" in text


@latex
def test_pdf_from_bm25_alone_says_what_was_not_run(bm25_only):
    text = _pdf_text(bm25_only[0])
    assert text.count("Not run: the results this figure draws") == 8   # all but the effectiveness figure
    assert "Not run: no cell recorded a latency per engine" in text
    assert "not measured: no pruned cell of GMP recorded a latency per engine" in text   # what Q1's sparsity buys
    assert "Not run: DSI has not been trained" in text and "Not run: no DSI pruning cell exists yet" in text
    assert "Not answered yet" in text and "unpruned baselines only" in text
    assert "no classification, translation or image cell exists yet" in text
    assert "The comparison with other tasks under the same pruning (classification, translation, images) has not " \
        "been run" in text


def test_missing_latexmk_gives_an_install_hint(monkeypatch, tmp_path: Path):
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\\begin{document}x\\end{document}\n")
    monkeypatch.setattr(paper.shutil, "which", lambda tool: None)
    with pytest.raises(paper.LatexMissing, match=r"latexmk, pdflatex, bibtex not found; .*apt-get install"):
        paper.build_pdf(tmp_path / "paper.tex")


@latex
def test_latex_errors_quote_the_log(tmp_path: Path):
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n")
    with pytest.raises(paper.LatexError, match=r"paper\.tex:1: Undefined control sequence"):
        paper.build_pdf(tmp_path / "paper.tex")


def test_cross_task_figure_draws_one_panel_per_task_or_nothing(tiny, bm25_only):
    root, r = tiny
    assert root / "figures" / "cross_task.pdf" in r.figures and (root / "figures" / "cross_task.png").is_file()
    assert "cross_task" in r.tables and "Translation" in r.tables["cross_task"].markdown()
    # BM25 alone: no figure (the paper's framed "not run" note), and stale files are removed
    assert not any(p.name.startswith("cross_task") for p in bm25_only[1].figures)
    assert not (bm25_only[0] / "figures" / "cross_task.png").exists()
