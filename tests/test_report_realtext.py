"""The real-text section: runs of k folds pool into one evaluation of every judged query, the table and macros come
from the runs' files, and a synthetic run has no real-text section."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from irprune import paths
from irprune.config import from_mapping
from irprune.data.load import assign_folds
from irprune.errors import ConfigError, DataFormatError
from irprune.evaluation import EvalConfig, evaluate
from irprune.report import palette, realtext
from irprune.report.macros import Macros
from irprune.significance import SignificanceConfig, compare

K, N_QUERIES, N_DOCS = 3, 14, 30
EVAL = EvalConfig(metrics=("ndcg@10", "mrr@10"), relevance_level=1)
QIDS = [f"q{i}" for i in range(N_QUERIES)]
QRELS = {q: {f"d{(i * 5 + j) % N_DOCS}": 1 + j % 2 for j in range(3)} for i, q in enumerate(QIDS)}
SYSTEMS = {"bm25": None, "conv_knrm-s0": 0.5, "conv_knrm-s1": 0.4, "monobert-s0": 0.8}


def ranking(system: str, q: str) -> dict[str, float]:
    """A seeded ranking of every document; the better the system, the more often a relevant one is near the top."""
    rng = random.Random(f"{system}/{q}")
    skill = SYSTEMS[system] or 0.2
    scores = {f"d{i}": rng.random() for i in range(N_DOCS)}
    for d in QRELS[q]:
        scores[d] += skill * rng.random() * 2
    return scores


def card(fold: int | None, test: list[str], source: str = "msmarco", collection: str = "tiny-real") -> dict:
    plan = {"method": "folds", "k": K, "fold": fold, "seed": 0, "test_queries": sorted(test)} \
        if fold is not None else {"method": "dev_from_test", "seed": 0, "dev_queries": N_QUERIES - len(test)}
    n_dev = N_QUERIES - len(test)
    return {"source": source, "collection": collection, "docs": N_DOCS, "doc_length": {"mean": 12.5},
            "split_plan": plan, "pseudo_queries": {"strategy": "ict", "made": 300},
            "splits": {"train": {"queries": 300},
                       "dev": {"queries": n_dev, "judged_queries": n_dev, "query_length": {"mean": 4.0}},
                       "test": {"queries": len(test), "judged_queries": len(test), "query_length": {"mean": 4.0}}}}


def write_run(root: Path, test: list[str], fold: int | None = None, systems=tuple(SYSTEMS), **card_kw) -> Path:
    """A finished run in the stages' layout: card, BM25 and trained rankers' test per-query scores."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "card.json").write_text(json.dumps(card(fold, test, **card_kw)))
    qrels = {q: QRELS[q] for q in test}
    for system in systems:
        res = evaluate(qrels, {q: ranking(system, q) for q in test}, EVAL)
        folder = root / "runs" / system
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "per_query.json").write_text(json.dumps({"test": res.per_query}))
        if system != "bm25":
            (root / "metrics").mkdir(parents=True, exist_ok=True)
            (root / "metrics" / f"{system}.json").write_text(json.dumps({"test": res.aggregate}))
    return root


def write_zeroshot(folds: list[Path], skill: float = 0.6) -> dict:
    """Each fold's ``runs/bm25/dense_per_query.json`` (the hybrid first stage's dense retrieval); returns the
    per-query scores of one evaluation over all judged queries."""
    fold_of = assign_folds(QIDS, K, seed=0)
    SYSTEMS["zeroshot"] = skill
    try:
        for f, root in enumerate(folds):
            test = [q for q in QIDS if fold_of[q] == f]
            res = evaluate({q: QRELS[q] for q in test}, {q: ranking("zeroshot", q) for q in test}, EVAL)
            (root / "runs" / "bm25" / "dense_per_query.json").write_text(json.dumps({"test": res.per_query}))
        return evaluate(QRELS, {q: ranking("zeroshot", q) for q in QIDS}, EVAL).per_query
    finally:
        del SYSTEMS["zeroshot"]


@pytest.fixture()
def folds(tmp_path: Path) -> list[Path]:
    fold_of = assign_folds(QIDS, K, seed=0)
    return [write_run(tmp_path / f"fold{f}", [q for q in QIDS if fold_of[q] == f], f) for f in range(K)]


def test_pooled_folds_equal_one_evaluation_of_the_union(folds: list[Path]) -> None:
    pooled = realtext.pool([realtext.load_run(r) for r in reversed(folds)])
    assert sorted(pooled.bm25["ndcg@10"]) == sorted(QIDS)             # every judged query scored once
    assert pooled.seeds == {"monobert": (0,), "conv_knrm": (0, 1)} and pooled.n_runs == K
    for system in SYSTEMS:
        whole = evaluate(QRELS, {q: ranking(system, q) for q in QIDS}, EVAL)  # one run over all judged queries
        got = pooled.bm25 if system == "bm25" else pooled.rankers[paths.parse_trained(system)[0]]
        if system.startswith("conv_knrm"):
            continue                                        # seed-averaged: checked below
        for m in realtext.METRICS:
            assert got[m] == pytest.approx(whole.per_query[m])
    seeds = [evaluate(QRELS, {q: ranking(f"conv_knrm-s{s}", q) for q in QIDS}, EVAL).per_query for s in (0, 1)]
    for m in realtext.METRICS:
        assert pooled.rankers["conv_knrm"][m] == pytest.approx({q: (seeds[0][m][q] + seeds[1][m][q]) / 2
                                                                 for q in QIDS})
    sig = SignificanceConfig()
    rows = {r.model: r for r in realtext.rows(pooled, sig)}
    whole_bm = evaluate(QRELS, {q: ranking("bm25", q) for q in QIDS}, EVAL)
    whole_bert = evaluate(QRELS, {q: ranking("monobert-s0", q) for q in QIDS}, EVAL)
    assert rows["bm25"].means["ndcg@10"] == pytest.approx(whole_bm.aggregate["ndcg@10"])
    c = compare(whole_bert.per_query["mrr@10"], whole_bm.per_query["mrr@10"], cfg=sig)
    assert rows["monobert"].p["mrr@10"] == pytest.approx(c.p_value) and rows["bm25"].p["mrr@10"] is None


def test_incomplete_or_mixed_folds_are_refused(folds: list[Path], tmp_path: Path) -> None:
    runs = [realtext.load_run(r) for r in folds]
    with pytest.raises(DataFormatError, match=r"folds \[0, 2\] of k = 3 \(missing: \[1\], twice: none\)"):
        realtext.pool([runs[0], runs[2]])
    with pytest.raises(DataFormatError, match=r"twice: \[0\]"):
        realtext.pool([runs[0], runs[0], runs[1]])
    other = write_run(tmp_path / "single", QIDS[:5])
    with pytest.raises(DataFormatError, match="not all of data.splits.method: folds"):
        realtext.pool([runs[0], runs[1], realtext.load_run(other)])
    stale = json.loads((folds[1] / "data" / "card.json").read_text())   # the card of a re-run data stage
    stale["split_plan"]["test_queries"] = stale["split_plan"]["test_queries"][1:]
    (folds[1] / "data" / "card.json").write_text(json.dumps(stale))
    with pytest.raises(DataFormatError, match="BM25's test queries are not those of the card's fold"):
        realtext.pool([runs[0], realtext.load_run(folds[1]), runs[2]])
    one = realtext.pool([realtext.load_run(other)])                     # one dev/test run reports alone
    assert sorted(one.bm25["mrr@10"]) == sorted(QIDS[:5])


def test_ranker_missing_in_one_fold_is_left_out(folds: list[Path], tmp_path: Path) -> None:
    fold_of = assign_folds(QIDS, K, seed=0)
    partial = write_run(tmp_path / "partial", [q for q in QIDS if fold_of[q] == 1], 1,
                        systems=("bm25", "conv_knrm-s0"))
    pooled = realtext.pool([realtext.load_run(p) for p in (folds[0], partial, folds[2])])
    assert set(pooled.rankers) == {"conv_knrm"} and pooled.seeds["conv_knrm"] == (0,)
    assert pooled.notes == ("monobert: not trained in every run (left out)",)


def test_macros_and_table_from_the_pooled_runs(folds: list[Path]) -> None:
    sig = SignificanceConfig()
    pooled, rows = realtext.report(folds, sig)
    M = Macros()
    realtext.add_macros(M, pooled, rows)
    assert M.flags["RealText"] and M.flags["RealTextFolds"] and M.flags["RealTextHaveRanker"]
    best = max(rows[1:], key=lambda r: r.means["ndcg@10"])
    assert M.values["RealTextBestNDCG"] == f"{best.means['ndcg@10']:.3f}"
    assert M.values["RealTextTested"] == str(N_QUERIES) and M.values["RealTextJudged"] == str(N_QUERIES)
    assert M.values["RealTextDocs"] == str(N_DOCS) and "ICT" in M.values["RealTextTraining"]
    assert "3-fold cross-validation (dev = the other folds), the 3 fold runs pooled" == M.values["RealTextSplit"]
    t = realtext.table(pooled, rows, sig)
    assert [r[0] for r in t.rows] == [palette.model_label(m) for m in ("bm25", "monobert", "conv_knrm")]
    assert t.rows[0][2] == "—" and t.rows[1][1] == f"{rows[1].means['ndcg@10']:.3f}"
    assert "tab:realtext" in t.latex() and f"over {N_QUERIES} judged queries" in t.caption


def test_the_zero_shot_dense_retrieval_of_a_hybrid_first_stage_is_a_row_monobert_is_held_to(
        folds: list[Path]) -> None:
    """Each fold's ``runs/bm25/dense_per_query.json`` (first_stage.method: hybrid) pools into a row of its own, and
    the macros compare monoBERT with it on the same queries."""
    M = Macros()
    pooled, rows = realtext.report(folds, SignificanceConfig())
    realtext.add_macros(M, pooled, rows)
    assert not M.flags["RealTextHaveZeroshot"] and M.values["RealTextZeroshotNDCG"] == realtext.NOT_RUN
    whole = write_zeroshot(folds)
    sig = SignificanceConfig()
    pooled, rows = realtext.report(folds, sig)
    assert pooled.rankers[realtext.ZERO_SHOT]["ndcg@10"] == pytest.approx(whole["ndcg@10"])
    assert [r.model for r in rows] == ["bm25", "monobert", "conv_knrm", realtext.ZERO_SHOT]
    M = Macros()
    realtext.add_macros(M, pooled, rows, sig_cfg=sig)
    c = compare(pooled.rankers["monobert"]["ndcg@10"], whole["ndcg@10"], cfg=sig)
    assert M.flags["RealTextHaveZeroshot"] and M.values["RealTextZeroshotNDCG"] == f"{c.mean_b:.3f}"
    assert M.values["RealTextBertNDCG"] == f"{c.mean_a:.3f}"
    assert M.values["RealTextBertVsZeroshotP"] == realtext.p_text(c.p_value)
    assert M.flags["RealTextBertAtLeastZeroshot"] == (c.mean_a >= c.mean_b)
    from irprune.report import readme_table

    assert "zero-shot" not in readme_table.table(folds, sig)                   # the README lists trained rankers



def test_the_command_prints_the_pooled_table_and_refuses_missing_folds(folds: list[Path], capsys) -> None:
    write_zeroshot(folds)
    assert realtext.main([str(f) for f in folds]) == 0
    out = capsys.readouterr().out
    assert "| Bi-encoder (zero-shot) |" in out and "| monoBERT |" in out and "| BM25 |" in out
    assert realtext.main([str(folds[0])]) == 2
    assert "missing: [1, 2]" in capsys.readouterr().err
    params = folds[0] / "params.yaml"                                  # the params' test is the one used
    params.write_text("significance:\n  test: wilcoxon\n")
    assert realtext.main([*map(str, folds), "--params", str(params)]) == 0
    assert "Wilcoxon" in capsys.readouterr().out


def test_a_synthetic_run_has_no_real_text_section(tmp_path: Path) -> None:
    root = write_run(tmp_path, QIDS[:5], source="synthetic")
    pooled, rows = realtext.report([root], SignificanceConfig())
    M = Macros()
    realtext.add_macros(M, pooled, rows)
    assert pooled is None and not M.flags["RealText"] and M.values["RealTextBest"] == "not run"


def test_the_report_stage_writes_the_section_for_real_text_only(folds: list[Path]) -> None:
    """The report stage of fold 0 pools the other folds named in report.fold_runs."""
    from irprune.pipeline import collect_stage, report_stage
    from irprune.report.config import CollectStage, ReportStage

    root = folds[0]
    (root / "metrics" / "bm25.json").write_text(json.dumps({"test": {"mrr@10": 0.3}, "depth": 100,
                                                            "candidates": "hybrid"}))
    zero = write_zeroshot(folds)
    collect_stage.run(CollectStage(), root=root)
    hw = {"cpu": "Test CPU", "cores": "2", "gpu": "none", "torch": "2.0", "python": "3.11"}
    with pytest.raises(ConfigError, match=r"report.fold_runs lists 2 run\(s\) .* set data.splits.method: folds"):
        from_mapping(ReportStage, {"report": {"fold_runs": ["../a", "../b"]}})
    alone = report_stage.run(from_mapping(ReportStage, {"data": {"splits": {"method": "folds"}}}), root=root, hw=hw)
    assert alone.macros.flags["RealText"] and not alone.macros.flags["RealTextFolds"]   # one fold, said so
    assert "fold 0 of 3-fold cross-validation alone" in alone.macros.values["RealTextSplit"]
    assert alone.macros.values["RealTextTested"] == str(len(realtext.load_run(root).bm25["ndcg@10"]))
    cfg = from_mapping(ReportStage, {"report": {"fold_runs": [f"../{f.name}" for f in folds[1:]]},
                                     "data": {"splits": {"method": "folds"}}})
    res = report_stage.run(cfg, root=root, hw=hw)
    tex = (root / "report" / "generated" / "realtext.tex").read_text()
    assert "tab:realtext" in tex and res.macros.flags["RealText"]
    assert res.macros.values["RealTextTested"] == str(N_QUERIES)
    card = json.loads((root / "data" / "card.json").read_text())
    (root / "data" / "card.json").write_text(json.dumps({**card, "source": "synthetic"}))
    res = report_stage.run(from_mapping(ReportStage, {}), root=root, hw=hw)
    assert not (root / "report" / "generated" / "realtext.tex").exists() and not res.macros.flags["RealText"]


def test_readme_table_replaces_only_the_marked_block(folds: list[Path], tmp_path: Path) -> None:
    from irprune.report import readme_table

    single = write_run(tmp_path / "single", QIDS[:6], collection="other-real", systems=("bm25", "monobert-s0"))
    readme = tmp_path / "README.md"
    before, after = "# Title\n\ntext above\n", "\ntext below\n"
    readme.write_text(f"{before}{readme_table.BEGIN}\nold table\n{readme_table.END}{after}")
    args = [*map(str, folds), str(single), "--readme", str(readme), "--params", str(tmp_path / "none.yaml")]
    assert readme_table.main(args) == 0
    text = readme.read_text()
    assert text.startswith(before + readme_table.BEGIN) and text.endswith(readme_table.END + after)
    assert "old table" not in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0] for r in rows] == ["| tiny-real", "| other-real"]
    sig = SignificanceConfig()
    pooled = realtext.pool([realtext.load_run(f) for f in folds])
    res = {r.model: r for r in realtext.rows(pooled, sig)}
    header = [c.strip() for c in text.splitlines()[text.splitlines().index(rows[0]) - 2].strip("|").split("|")]
    assert header == ["collection", "queries", "split", "BM25", "monoBERT", "Conv-KNRM"]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells == ["tiny-real", str(N_QUERIES), f"{K} folds pooled", f"{res['bm25'].means['ndcg@10']:.3f}",
                     *(f"{res[m].means['ndcg@10']:.3f} ({realtext.p_text(res[m].p['ndcg@10'])})"
                       for m in ("monobert", "conv_knrm"))]
    assert [c.strip() for c in rows[1].strip("|").split("|")][5] == "—"     # conv_knrm not trained there
    assert readme_table.main(args) == 0 and readme.read_text() == text          # re-running changes nothing
    # one collection's runs again: its row is rewritten in place, the other collection's row stays as it stood
    assert readme_table.main([*map(str, folds), "--readme", str(readme), "--params", str(tmp_path / "none.yaml")]) == 0
    assert readme.read_text() == text
    # the other collection alone has other columns (no Conv-KNRM): its row cannot sit beside the kept one
    assert readme_table.main([str(single), "--readme", str(readme), "--params", str(tmp_path / "none.yaml")]) == 2
    assert readme.read_text() == text


def test_readme_table_refuses_bad_input(folds: list[Path], tmp_path: Path, capsys) -> None:
    from irprune.report import readme_table

    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    assert readme_table.main([*map(str, folds), "--readme", str(readme)]) == 2
    assert "must hold one <!-- realtext:begin --> line" in capsys.readouterr().err
    readme.write_text(f"{readme_table.BEGIN}\n{readme_table.END}\n")
    assert readme_table.main([str(folds[0]), str(folds[1]), "--readme", str(readme)]) == 2
    assert "missing: [2]" in capsys.readouterr().err and readme.read_text().count("|") == 0   # nothing written
    syn = write_run(tmp_path / "syn", QIDS[:4], source="synthetic")
    assert readme_table.main([str(syn), "--readme", str(readme)]) == 2
    assert "synthetic default collection has no real-text row" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
                    reason="latexmk and pdftotext needed (apt-get install latexmk poppler-utils)")
def test_the_paper_of_pooled_folds_has_the_real_text_section(folds: list[Path]) -> None:
    from irprune.pipeline import collect_stage, report_stage
    from irprune.report.config import CollectStage, ReportStage

    root = folds[0]
    (root / "metrics" / "bm25.json").write_text(json.dumps({"test": {"mrr@10": 0.3}, "depth": 100,
                                                            "candidates": "hybrid"}))
    zero = write_zeroshot(folds)
    (root / "report").mkdir()
    for f in ("paper.tex", "references.bib"):
        shutil.copy(Path(__file__).parents[1] / "report" / f, root / "report" / f)
    collect_stage.run(CollectStage(), root=root)
    cfg = from_mapping(ReportStage, {"report": {"fold_runs": [f"../{f.name}" for f in folds[1:]], "build_pdf": True},
                                     "data": {"splits": {"method": "folds"}}})
    res = report_stage.run(cfg, root=root, hw={"cpu": "c", "cores": "2", "gpu": "none", "torch": "2", "python": "3"})
    text = " ".join(subprocess.run(["pdftotext", str(res.pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "Real text: tiny-real" in text and f"each of the {N_QUERIES} judged queries is a test query" in text
    best = max(realtext.rows(realtext.pool([realtext.load_run(f) for f in folds]), SignificanceConfig())[1:],
               key=lambda r: r.means["ndcg@10"])
    assert f"reaches {best.means['ndcg@10']:.3f} against" in text
    assert "Real text (tiny-real): test effectiveness" in text
    assert "the candidate list interleaves BM25" in text and "ranking with the dense retrieval" in text
    bert = realtext.pool([realtext.load_run(f) for f in folds]).rankers["monobert"]["ndcg@10"]
    assert (f"zero-shot, retrieving from the whole collection, reaches {sum(zero['ndcg@10'].values()) / N_QUERIES:.3f}"
            in text)
    assert f"re-ranking the candidates, reaches {sum(bert.values()) / N_QUERIES:.3f}" in text


def test_training_signal_reads_bm25_on_pseudo_queries_and_each_rankers_dev_curve(folds: list[Path]) -> None:
    """The real-text section's evidence of what pseudo-query training does: BM25 on the pseudo-queries against the
    judged dev queries, and each ranker's dev metric at its first evaluation and at the step selection kept."""
    from irprune.pipeline import collect_stage, report_stage
    from irprune.report.config import CollectStage, ReportStage

    root = folds[0]
    seeds = realtext.pool([realtext.load_run(root)], single_fold=True).seeds
    assert realtext.training_signal(root, seeds) is None                 # no BM25 metrics yet
    bm = {s: {"mrr@10": v, "ndcg@10": v / 2} for s, v in (("train", 0.2), ("dev", 0.7), ("test", 0.6))}
    (root / "metrics" / "bm25.json").write_text(json.dumps({**bm, "depth": 100}))
    curves = {"monobert-s0": ([(0, 0.37), (50, 0.21)], 0), "conv_knrm-s0": ([(100, 0.15), (200, 0.14)], 100),
              "conv_knrm-s1": ([(100, 0.5)], 100)}
    for name, (points, selected) in curves.items():
        (root / "runs" / name / "history.json").write_text(json.dumps({
            "evaluations": [{"step": s, "dev": {"ndcg@10": v, "mrr@10": v}} for s, v in points],
            "selected_step": selected, "steps": points[-1][0]}))
    sig = realtext.training_signal(root, seeds)
    assert sig.bm25["train"]["mrr@10"] == 0.2 and sig.bm25["dev"]["ndcg@10"] == 0.35
    by = {r.model: r for r in sig.rankers}
    assert (by["monobert"].first, by["monobert"].selected_step, by["monobert"].selected) == (0.37, 0, 0.37)
    assert (by["conv_knrm"].first_step, by["conv_knrm"].selected, by["conv_knrm"].steps) == (100, 0.15, 200)
    table = realtext.signal_table(sig)
    assert table.label == "tab:realtextsignal" and "BM25 on dev: 0.350" in table.caption
    assert [r[0] for r in table.rows] == [palette.model_label("monobert"), palette.model_label("conv_knrm")]
    collect_stage.run(CollectStage(), root=root)
    hw = {"cpu": "Test CPU", "cores": "2", "gpu": "none", "torch": "2.0", "python": "3.11"}
    res = report_stage.run(from_mapping(ReportStage, {"data": {"splits": {"method": "folds"}}}), root=root, hw=hw)
    assert (root / "report" / "generated" / "realtext_signal.tex").is_file()
    v, f = res.macros.values, res.macros.flags
    assert f["RealTextSignal"] and f["RealTextAnyKeptStart"] and v["RealTextKeptStart"] == palette.model_label(
        "monobert")
    assert v["RealTextPseudoBMMRR"] == "0.200" and v["RealTextDevBMNDCG"] == "0.350"
