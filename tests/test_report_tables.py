"""Tables: booktabs LaTeX and Markdown, 'not run' for missing cells, and significance marks that follow a paired
t-test against dense with Holm's correction (recomputed here with scipy and Holm's step-down rule by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import stats

from irprune.report import tables
from irprune.report.results import collect, make_cell, write_cell
from irprune.significance import SignificanceConfig

N = 30


def _write(root: Path, model: str, method: str, s: float, scores: np.ndarray) -> Path:
    pq = root / "pq" / f"{model}-{method}-{s}.json"
    pq.parent.mkdir(parents=True, exist_ok=True)
    pq.write_text(json.dumps({"mrr@10": {f"q{i}": float(v) for i, v in enumerate(scores)}}))
    path = root / "cells" / f"{model}-{method}-{s}.json"
    write_cell(path, make_cell(task="ranking", model=model, method=method, target_sparsity=s, achieved_sparsity=s,
                               seed=0, split="test", primary_metric="mrr@10", mrr_at_10=float(scores.mean()),
                               per_query_path=str(pq.relative_to(root))))
    return path


def _grid(root: Path) -> tuple[object, dict]:
    rng = np.random.default_rng(3)
    dense = rng.uniform(0.3, 0.9, N)
    arms = {("gmp", 0.9): np.clip(dense - 0.25 + rng.normal(0, 0.05, N), 0, 1),      # clearly worse
            ("gmp", 0.5): np.clip(dense + rng.normal(0, 0.01, N), 0, 1),             # same
            ("magnitude", 0.9): np.clip(dense - 0.03 + rng.normal(0, 0.1, N), 0, 1),  # borderline
            ("snip", 0.8): np.clip(dense - 0.1 + rng.normal(0, 0.05, N), 0, 1)}
    files = [_write(root, "conv_knrm", "dense", 0.0, dense)]
    files += [_write(root, "conv_knrm", m, s, v) for (m, s), v in arms.items()]
    return collect(files), {k: stats.ttest_rel(v, dense).pvalue for k, v in arms.items()}


def _holm(p: dict, alpha: float) -> set:
    """Holm (1979) step-down: reject in increasing p order while p_(i) <= alpha / (m - i)."""
    out, m = set(), len(p)
    for i, (k, v) in enumerate(sorted(p.items(), key=lambda kv: kv[1])):
        if v > alpha / (m - i):
            break
        out.add(k)
    return out


def test_significance_marks_follow_holm_corrected_paired_tests(tmp_path: Path):
    df, raw = _grid(tmp_path)
    table, tests = tables.pruned_key(df, key_sparsities=(0.5, 0.8, 0.9), sig=SignificanceConfig(), root=str(tmp_path))
    assert {(k[1], k[2]) for k in tests} == set(raw)
    for (method, s), p in raw.items():
        assert np.isclose(tests[("conv_knrm", method, s)].p_value, p)
    want = _holm(raw, 0.05)
    got = {(k[1], k[2]) for k, t in tests.items() if t.significant}
    assert got == want and 0 < len(want) < len(raw)
    # the dagger sits exactly on those cells
    cols = {0.5: 2, 0.8: 3, 0.9: 4}
    for row in table.rows:
        if row[0] in ("", "Conv-KNRM") and row[1] != "not run":
            method = {"GMP": "gmp", "Magnitude (one-shot)": "magnitude", "SNIP": "snip"}[row[1]]
            for s, col in cols.items():
                assert row[col].endswith(tables.DAGGER) == ((method, s) in want), (row, s)
    assert f"Holm-corrected over the {len(raw)} tested cells" in table.caption


def test_latex_uses_booktabs_and_escapes_and_markdown_matches(tmp_path: Path):
    df, _ = _grid(tmp_path)
    table, _ = tables.pruned_key(df, key_sparsities=(0.5, 0.9), root=str(tmp_path))
    tex = table.latex()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert r"\hline" not in tex and r"90\%" in tex and r"$^{\dagger}$" in tex and "%" not in tex.replace(r"\%", "")
    md = table.markdown().splitlines()
    assert md[2].startswith("| Model | Method | 50% | 90% |") and set(md[3]) <= set("|-:")
    # monoBERT and Conformer-Kernel have no rows: reported as not run, not dropped
    assert any(r[0] == "monoBERT" and r[1] == "not run" for r in table.rows)


def test_dense_and_max_sparsity_tables(tmp_path: Path):
    df, _ = _grid(tmp_path)
    dense = tables.dense_baselines(df)
    row = next(r for r in dense.rows if r[0] == "Conv-KNRM")
    assert row[1] == f"{df[(df['method'] == 'dense')]['mrr@10'].iloc[0]:.3f}"
    assert next(r for r in dense.rows if r[0] == "BM25")[1] == tables.NOT_RUN
    maxsp, by_model = tables.max_sparsity(df, (0.95, 0.5))
    # gmp at 50% keeps ~100%: the best keeping 95% is at least 50%; snip at 80% keeps far more than half
    assert by_model[0.95]["conv_knrm"].status == "ok" and by_model[0.95]["conv_knrm"].achieved_sparsity >= 0.5
    assert by_model[0.5]["conv_knrm"].achieved_sparsity == 0.9
    assert by_model[0.95]["monobert"].status == "not run"


def test_comparison_table_cites_sources_and_computes_retained():
    import pandas as pd

    from irprune.report import published
    from irprune.report.results import COLUMNS

    t = tables.comparison(pd.DataFrame(columns=list(COLUMNS)))
    tex = t.latex()
    for p in published.PUBLISHED:
        assert rf"\cite{{{p.key}}}" in tex
    gale90 = next(p for p in published.PUBLISHED if p.key == "gale2019state" and p.sparsity == 0.9)
    assert np.isclose(gale90.retained, 73.91 / ((76.67 + 76.80 + 76.59) / 3))
    assert f"{100 * gale90.retained:.1f}%" in t.markdown()


def _brute_keep(raw: list[dict], task: str, model: str, keep: float) -> tuple[float, str] | None:
    """Highest achieved sparsity (and its method) whose seed-mean primary value keeps ``keep`` of dense."""
    mine = [c for c in raw if c["task"] == task and c["model"] == model]
    dense = np.mean([c["primary_value"] for c in mine if c["method"] == "dense"])
    groups: dict[tuple, list] = {}
    for c in mine:
        if c["method"] != "dense":
            groups.setdefault((c["method"], c["target_sparsity"]), []).append(c)
    ok = [(np.mean([c["achieved_sparsity"] for c in g]), m) for (m, _), g in groups.items()
          if np.mean([c["primary_value"] for c in g]) >= keep * dense]
    return max(ok) if ok else None


def test_cross_task_table_keeps_per_task_and_lists_published_vision(tmp_path: Path):
    from irprune.report import palette, published
    from irprune.report.results import read_cell

    from test_report_fakegrid import write_task_grid

    files = write_task_grid(tmp_path, sparsities=(0.5, 0.7, 0.9, 0.95))
    df_rank, _ = _grid(tmp_path / "rank")
    df = collect(files + sorted((tmp_path / "rank" / "cells").glob("*.json")))
    raw = [read_cell(f) for f in files] + [read_cell(f) for f in sorted((tmp_path / "rank" / "cells").glob("*.json"))]
    table, by = tables.cross_task(df, (0.95, 0.9))
    for keep in (0.95, 0.9):
        for task, model in (("classification", "embedding_bag"), ("translation", "seq2seq"),
                            ("ranking", "conv_knrm")):
            want = _brute_keep(raw, task, model, keep)
            got = by[keep][(task, model)]
            if want is None:
                assert got.status == "none"
            else:
                assert got.status == "ok" and np.isclose(got.achieved_sparsity, want[0]) and got.method == want[1]
        assert by[keep][("ranking", "monobert")].status == "not run"
    rows = {(r[0], r[1]): r for r in table.rows}
    k = by[0.95][("translation", "seq2seq")]
    assert rows[("Translation", "Seq2Seq")][4] == f"{tables.pct(k.achieved_sparsity)} ({palette.method_label(k.method)})"
    assert rows[("Passage ranking", "monoBERT")][4] == tables.NOT_RUN == rows[("Passage ranking", "monoBERT")][3]
    # Gale et al.'s ResNet-50: highest reported sparsity keeping 95% / 90% of the dense top-1, recomputed here
    gale = [p for p in published.PUBLISHED if p.key == "gale2019state"]
    for col, keep in ((4, 0.95), (5, 0.9)):
        best = max(p.sparsity for p in gale if p.value >= keep * p.dense)
        assert rows[("ImageNet (vision)", "ResNet-50, Magnitude (gradual)")][col].startswith(f"{100 * best:.0f}%")
    assert r"\cite{gale2019state}" in table.latex() and r"\cite{kurtic2022optimal}" in table.latex()


def test_cross_task_table_without_task_rows_says_not_run(tmp_path: Path):
    df, _ = _grid(tmp_path)
    table, by = tables.cross_task(df)
    rows = {r[0]: r for r in table.rows if r[0]}
    for task in ("Text classification", "Translation"):
        assert rows[task][1] == tables.NOT_RUN and rows[task][4] == tables.NOT_RUN
    assert not any(t != "ranking" for t, _ in by[0.95])
