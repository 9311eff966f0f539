"""What 80/90/95% sparsity buys (``irprune.report.buys``) from a fake grid: every number of the table and of the Q1
answer's macros recomputed here from the raw cells, the fastest engine chosen per cell, "n/a" for engines not
measured, "not run" for cells not run, and the paper built with the new table and sentences."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irprune.cells.schema import ENGINE_LATENCY, ENGINE_NAMES
from irprune.config import from_mapping
from irprune.pipeline import collect_stage, report_stage
from irprune.prune_cell import BERT_ONLY
from irprune.report import buys
from irprune.report.config import CollectStage, ReportConfig, ReportStage
from irprune.report.macros import Macros
from irprune.report.palette import engine_style
from irprune.report.results import cell_files, collect, read_cell

from conftest import ROOT
from test_report_fakegrid import write_grid

MODELS = {"monobert": 0.62, "conv_knrm": 0.5}
GMP_SPARSITIES = (0.5, 0.8, 0.9, 0.95)
HIGH = (0.8, 0.9, 0.95)
STRUCTURED_SPARSITIES = (0.3, 0.7)        # on the fake engines, ~1.8x and ~2.1x on OpenVINO
SEEDS = (0, 1)
LABELS = {"monobert": "monoBERT", "conv_knrm": "Conv-KNRM", "conformer_kernel": "Conformer-Kernel"}
COL = dict(zip(ENGINE_NAMES, ENGINE_LATENCY))


def _grid(root: Path) -> Path:
    """GMP on two rankers plus structured cells of monoBERT (written in a second grid and copied in)."""
    write_grid(root, models=MODELS, methods={"gmp": (0.85, 10.0)}, sparsities=GMP_SPARSITIES, seeds=SEEDS,
               n_queries=20)
    other = write_grid(root.parent / f"{root.name}-structured", models={"monobert": 0.62},
                       methods={"structured": (0.4, 5.0)}, sparsities=STRUCTURED_SPARSITIES, seeds=SEEDS,
                       n_queries=20, seed=3, bm25=False)
    for part in ("metrics", "runs"):
        shutil.copytree(other / part / "prune" / "monobert" / "structured",
                        root / part / "prune" / "monobert" / "structured")
    return root


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, pd.DataFrame, list[dict]]:
    root = _grid(tmp_path_factory.mktemp("buys") / "grid")
    files = [p for p in cell_files(["metrics/**/*.json"], root) if p.name != "bm25.json"]
    return root, collect(files, root / "metrics" / "bm25.json"), [read_cell(p) for p in files]


def _cells(raw: list[dict], model: str, method: str, sp: float = 0.0) -> list[dict]:
    return [c for c in raw if c["model"] == model and c["method"] == method and c["target_sparsity"] == sp]


def _mean(rows: list[dict], col: str) -> float:
    return float(np.mean([r[col] for r in rows]))


def expected(raw: list[dict], model: str, method: str, sp: float, drop: tuple[str, ...] = ()) -> dict:
    """The numbers of one cell straight from the raw rows, engines in ``drop`` left out."""
    cells, dense = _cells(raw, model, method, sp), _cells(raw, model, "dense")
    seeds = {c["seed"] for c in cells}
    kept = _mean(cells, "mrr@10") / _mean([d for d in dense if d["seed"] in seeds], "mrr@10")
    ref = _mean(dense, "latency_ms_torch")
    speed = {e: ref / _mean(cells, COL[e]) for e in ENGINE_NAMES
             if e not in drop and all(c[COL[e]] is not None for c in cells)}
    best = max(speed, key=speed.get)
    return {"kept": kept, "best": best, "speedup": speed[best], "torch": speed.get("torch"),
            "flops": _mean(dense, "flops_dense") / _mean(cells, "flops_sparse"),
            "size": _mean(dense, "size_dense_bytes") / min(_mean(cells, "size_dense_bytes"),
                                                           _mean(cells, "size_sparse_bytes"))}


def _row(e: dict) -> tuple[str, ...]:
    torch = "n/a" if e["torch"] is None else f"{e['torch']:.2f}×"
    return (f"{100 * e['kept']:.1f}%", f"{e['speedup']:.2f}×", engine_style(e["best"]).label, torch,
            f"{e['flops']:.2f}×", f"{e['size']:.2f}×")


def test_table_numbers_equal_what_the_rows_give(grid) -> None:
    _, df, raw = grid
    t = buys.table(df, HIGH, "test", "mrr@10", "gmp")
    rows = {(r[0], r[1], r[2]): r[3:] for r in t.rows}
    assert t.name == "q1_buys" and "What 80/90/95% sparsity buys" in t.caption and "Fake CPU 9000" in t.caption
    for model in MODELS:
        for sp in HIGH:
            assert rows[(LABELS[model], "GMP", f"{100 * sp:g}%")] == _row(expected(raw, model, "gmp", sp)), sp
    for sp in STRUCTURED_SPARSITIES:
        got = rows[("monoBERT", "Heads + FFN neurons removed", f"{100 * sp:g}%")]
        assert got == _row(expected(raw, "monobert", "structured", sp)), sp
    # 50% is no high sparsity; Conv-KNRM has no structured row; Conformer-Kernel was not run at all
    assert not any(k[2] == "50%" for k in rows) and ("Conv-KNRM", "Heads + FFN neurons removed") not in \
        {k[:2] for k in rows}
    for sp in HIGH:
        assert rows[("Conformer-Kernel", "GMP", f"{100 * sp:g}%")] == ("not run",) * 6
    assert [r[0] for r in t.rows] == ["monoBERT"] * 5 + ["Conv-KNRM"] * 3 + ["Conformer-Kernel"] * 3
    assert t.group_rows == (4, 7, 10) and "×" not in t.latex()


def test_the_fastest_engine_is_chosen_per_cell(grid) -> None:
    _, df, raw = grid
    t = buys.table(df, HIGH, "test", "mrr@10", "gmp")
    engines = {(r[0], r[2]): r[5] for r in t.rows if r[1] == "GMP" and r[5] != "not run"}
    # the fake torch CSR gains with sparsity and passes OpenVINO above ~93%: both must be picked somewhere
    assert set(engines.values()) == {"OpenVINO", "torch CSR"}
    for (label, sp), engine in engines.items():
        model = next(m for m, lab in LABELS.items() if lab == label)
        assert engine == engine_style(expected(raw, model, "gmp", float(sp[:-1]) / 100)["best"]).label


def test_engines_not_measured_read_na_and_cells_not_run_not_run(grid) -> None:
    _, df, raw = grid
    d = df.copy()
    d["latency_ms_openvino"] = np.nan                                          # OpenVINO not installed anywhere
    at = (d["model"] == "conv_knrm") & (d["method"] == "gmp") & np.isclose(d["target_sparsity"], 0.9)
    d.loc[at, list(ENGINE_LATENCY)] = np.nan                                   # one cell not timed at all
    at = (d["model"] == "monobert") & (d["method"] == "gmp") & np.isclose(d["target_sparsity"], 0.8)
    d.loc[at, "latency_ms_torch"] = np.nan                                     # one cell timed without torch
    rows = {(r[0], r[1], r[2]): r[3:] for r in buys.table(d, HIGH, "test", "mrr@10", "gmp").rows}
    kept = expected(raw, "conv_knrm", "gmp", 0.9)
    assert rows[("Conv-KNRM", "GMP", "90%")] == (f"{100 * kept['kept']:.1f}%", "n/a", "n/a", "n/a",
                                                 f"{kept['flops']:.2f}×", f"{kept['size']:.2f}×")
    e = expected(raw, "conv_knrm", "gmp", 0.8, drop=("openvino",))
    assert rows[("Conv-KNRM", "GMP", "80%")] == _row(e) and e["best"] == "onnxruntime"
    e = expected(raw, "monobert", "gmp", 0.8, drop=("openvino", "torch"))
    assert rows[("monoBERT", "GMP", "80%")] == _row(e) and rows[("monoBERT", "GMP", "80%")][3] == "n/a"
    # no structured cell: monoBERT still gets its structured row, saying so; rows without costs read n/a
    bare = d[d["method"] != "structured"].assign(flops_sparse=np.nan)
    rows = {(r[0], r[1], r[2]): r[3:] for r in buys.table(bare, HIGH, "test", "mrr@10", "gmp").rows}
    assert rows[("monoBERT", "Heads + FFN neurons removed", "not run")] == ("not run",) * 6
    assert rows[("Conv-KNRM", "GMP", "95%")][4] == "n/a"


def _macros(df: pd.DataFrame, **cfg) -> Macros:
    M = Macros()
    buys.add_macros(M, df, ReportConfig(**cfg))
    return M


def test_q1_sentence_prices_the_highest_sparsity_that_keeps_the_share(grid) -> None:
    _, df, raw = grid
    M = _macros(df)
    for model, stem in (("monobert", "Bert"), ("conv_knrm", "ConvKnrm")):
        # the highest target sparsity whose seed mean keeps 95% of the dense models of its seeds
        ok = [sp for sp in GMP_SPARSITIES if expected(raw, model, "gmp", sp)["kept"] >= 0.95]
        sp = max(ok) if ok else 0.9
        e = expected(raw, model, "gmp", sp)
        assert M.flags[f"{stem}BuysKeeps"] == bool(ok) and M.flags[f"{stem}BuysMeasured"]
        assert M.values[f"{stem}BuysSparsity"] == f"{100 * sp:g}\\%"
        assert M.values[f"{stem}BuysSpeedup"] == f"{e['speedup']:.2f}$\\times$"
        assert M.values[f"{stem}BuysEngine"] == engine_style(e["best"]).label
        text = M.values[f"{stem}BuysText"]
        assert f"runs {e['speedup']:.2f}$\\times$ faster than dense on {engine_style(e['best']).label} " \
               f"({e['torch']:.2f}$\\times$ on torch)" in text
        assert ("the highest keeping 95\\%" in text) == bool(ok)
    assert M.values["ConformerKernelBuysText"] == "not run" and not M.flags["ConformerKernelBuysMeasured"]
    assert M.flags["HaveBuys"]
    # when no cell keeps the share, the answer prices the comparison sparsity instead
    worse = df.copy()
    worse.loc[worse["method"] == "gmp", "mrr@10"] *= 0.5
    strict = _macros(worse, compare_sparsity=0.95)
    assert not strict.flags["BertBuysKeeps"] and strict.values["BertBuysSparsity"] == "95\\%"
    assert "(none keeps 95\\% of dense MRR@10) runs" in strict.values["BertBuysText"]


def test_structured_sentence_says_whether_a_cell_reaches_two_x(grid) -> None:
    _, df, raw = grid
    st = {sp: expected(raw, "monobert", "structured", sp) for sp in STRUCTURED_SPARSITIES}
    reach = [sp for sp, e in st.items() if e["speedup"] >= buys.STRUCTURED_TARGET_SPEEDUP]
    assert reach and len(reach) < len(st)            # the fake grid has both kinds of cell
    M = _macros(df)
    assert M.flags["HaveStructuredBuys"] and M.flags["StructuredReachesTarget"]
    best = max(reach, key=lambda sp: st[sp]["kept"])
    text = M.values["StructuredBuysText"]
    assert text.startswith("reaches 2$\\times$ measured speed-up: monoBERT at " f"{100 * best:g}\\% sparsity")
    assert f"keeps {100 * st[best]['kept']:.1f}\\% of dense MRR@10" in text
    slow = df[~((df["method"] == "structured") & df["target_sparsity"].isin(reach))]
    M = _macros(slow)
    fastest = max((sp for sp in st if sp not in reach), key=lambda sp: st[sp]["speedup"])
    assert M.flags["HaveStructuredBuys"] and not M.flags["StructuredReachesTarget"]
    assert M.values["StructuredBuysText"].startswith("does not reach 2$\\times$ measured speed-up; its fastest cell, "
                                                     f"monoBERT at {100 * fastest:g}\\% sparsity, runs "
                                                     f"{st[fastest]['speedup']:.2f}$\\times$")


def test_nothing_timed_gives_flags_off_and_no_numbers(grid) -> None:
    _, df, _ = grid
    bare = df.copy()
    bare[[c for c in df.columns if c.startswith("latency_ms")]] = np.nan
    M = _macros(bare)
    assert not M.flags["HaveBuys"] and not M.flags["HaveStructuredBuys"] and not M.flags["BertBuysMeasured"]
    assert M.values["BertBuysSpeedup"] == "n/a" and M.values["StructuredBuysText"] == "not run"
    assert M.values["BertBuysText"].endswith("was not timed")
    rows = buys.table(bare, HIGH, "test", "mrr@10", "gmp").rows
    assert all(r[4:7] in (("n/a",) * 3, ("not run",) * 3) for r in rows)


def test_high_sparsities_and_the_structured_models() -> None:
    assert buys.high_sparsities(ReportConfig().key_sparsities, ReportConfig().question_sparsity) == HIGH
    assert buys.high_sparsities((0.5, 0.9), 0.95) == ()
    assert buys.STRUCTURED in BERT_ONLY and buys.STRUCTURED_MODELS == ("monobert",)


@pytest.mark.skipif(shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
                    reason="latexmk and pdftotext needed to build and read the paper")
def test_the_paper_builds_with_the_table_and_the_answer(tmp_path: Path) -> None:
    root = _grid(tmp_path / "paper")
    (root / "report").mkdir(parents=True, exist_ok=True)
    for f in ("paper.tex", "references.bib"):
        shutil.copy(ROOT / "report" / f, root / "report" / f)
    collect_stage.run(CollectStage(), root=root)
    r = report_stage.run(from_mapping(ReportStage, {"report": {"build_pdf": True}}), root=root,
                         hw={"cpu": "Test CPU", "cores": "2", "gpu": "none", "torch": "2.0", "python": "3.11"})
    assert "q1_buys" in r.tables and (root / "report" / "generated" / "q1_buys.tex").is_file()
    text = " ".join(subprocess.run(["pdftotext", str(r.pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "What 80/90/95% sparsity buys" in text and "What that sparsity buys in measured time" in text
    assert f"monoBERT at {r.macros.values['BertBuysSparsity'].replace(chr(92), '')} sparsity" in text
    assert "faster than dense on" in text and "Structured pruning, which removes heads and FFN neurons" in text
    assert "measured speed-up" in text and "??" not in text
    md = r.question_one()                            # the notebook's Markdown of the same answer
    assert "What it buys in measured time:" in md and "faster than dense on" in md and "$" not in md
