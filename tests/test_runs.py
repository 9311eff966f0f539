"""TREC run files: round trip, the deterministic ranking rule, and validation errors naming file:line."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from irprune.errors import DataFormatError
from irprune.runs import rank_scores, read_trec_run, sort_run, truncate, write_trec_run


def _random_run(seed: int) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    return {str(rng.randint(1, 10**6)) if i % 3 else f"q{i}": {f"d{rng.randint(0, 10**5)}": rng.choice(
        [rng.random() * 20 - 5, 1.5, 0.1 + 0.2, -0.0]) for _ in range(rng.randint(0, 60))} for i in range(25)}


def test_round_trip_is_exact_and_deterministic(tmp_path: Path) -> None:
    run = _random_run(0)
    n = write_trec_run(run, tmp_path / "a.run", tag="bm25")
    assert n == sum(len(r) for r in run.values())
    back = read_trec_run(tmp_path / "a.run")
    assert back == {q: r for q, r in run.items() if r}  # exact floats; empty queries write no line
    # the same run built in another insertion order writes the same bytes
    shuffled = {q: dict(reversed(list(run[q].items()))) for q in reversed(list(run))}
    write_trec_run(shuffled, tmp_path / "b.run", tag="bm25")
    assert (tmp_path / "a.run").read_bytes() == (tmp_path / "b.run").read_bytes()


def test_file_layout_ranks_and_tie_rule(tmp_path: Path) -> None:
    run = {"10": {"b": 1.0, "a": 1.0, "c": 2.0}, "9": {"z": 0.5}, "x1": {"k": 3.0}}
    write_trec_run(run, tmp_path / "r.txt", tag="t1")
    lines = [ln.split() for ln in (tmp_path / "r.txt").read_text().splitlines()]
    # queries in natural order (9 before 10, non-numeric last); ties broken by doc id ascending
    assert [(c[0], c[2], c[3]) for c in lines] == [("9", "z", "1"), ("10", "c", "1"), ("10", "a", "2"),
                                                   ("10", "b", "3"), ("x1", "k", "1")]
    assert all(c[1] == "Q0" and c[5] == "t1" and len(c) == 6 for c in lines)
    write_trec_run(run, tmp_path / "d.txt", tag="t1", depth=1)
    assert [ln.split()[2] for ln in (tmp_path / "d.txt").read_text().splitlines()] == ["z", "c", "k"]


def test_sort_truncate_and_rank_scores_follow_one_rule() -> None:
    run = _random_run(1)
    for q, ranking in sort_run(run).items():
        items = list(ranking.items())
        assert all((-s1, d1) < (-s2, d2) for (d1, s1), (d2, s2) in zip(items, items[1:]))
    cut = truncate(run, 5)
    assert all(list(cut[q]) == list(sort_run(run)[q])[:5] for q in run)
    rs = rank_scores(run)
    for q in run:
        values = list(rs[q].values())
        assert list(rs[q]) == list(sort_run(run)[q])                    # same order as the rule
        assert values == sorted(set(values), reverse=True)              # strictly decreasing, no ties
    with pytest.raises(ValueError, match="k must be"):
        truncate(run, 0)


@pytest.mark.parametrize("content,line,needle", [
    ("1 Q0 d1 1 2.5 t\n1 Q0 d2 2 1.0\n", 2, "found 5 column"),
    ("1 Q0 d1 1 2.5 t\n\n2 Q0 d1 1 high t\n", 3, "score 'high'"),
    ("1 Q0 d1 1 2.5 t\n1 Q0 d1 2 1.0 t\n", 2, "duplicate (qid, docid) = (1, d1)"),
    ("1 Q0 d1 one 2.5 t\n", 1, "rank 'one'"),
    ("1 Q0 d1 1 nan t\n", 1, "not finite"),
])
def test_malformed_files_name_file_line_and_fix(tmp_path: Path, content: str, line: int, needle: str) -> None:
    path = tmp_path / "bad.run"
    path.write_text(content)
    with pytest.raises(DataFormatError) as exc:
        read_trec_run(path)
    msg = str(exc.value)
    assert f"{path}:{line}: " in msg and needle in msg and "(fix: " in msg
    assert exc.value.line == line


def test_reader_follows_scores_not_the_rank_column(tmp_path: Path) -> None:
    path = tmp_path / "r.run"
    path.write_text("1 Q0 a 1 0.5 t\n1 Q0 b 2 0.9 t\n")  # trec_eval also ignores column 4
    assert list(read_trec_run(path)["1"]) == ["b", "a"]
    path.write_bytes(b"1 Q0 \xff 1 0.5 t\n")
    with pytest.raises(DataFormatError, match="UTF-8"):
        read_trec_run(path)


def test_writer_rejects_what_trec_format_cannot_hold(tmp_path: Path) -> None:
    for run, tag, needle in [({"q 1": {"a": 1.0}}, "t", "whitespace"), ({"q": {"a": float("inf")}}, "t", "finite"),
                             ({"q": {"a": 1.0}}, "my tag", "whitespace")]:
        with pytest.raises(ValueError, match=needle):
            write_trec_run(run, tmp_path / "x.run", tag=tag)
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_trec_eval_order_breaks_ties_by_doc_id_descending() -> None:
    from irprune.runs import rank_scores, trec_eval_order

    ranking = {"a": 1.0, "c": 2.0, "b": 1.0, "d": 0.5}
    assert [d for d, _ in trec_eval_order(ranking)] == ["c", "b", "a", "d"]
    assert list(rank_scores({"1": ranking}, ties="trec_eval")["1"]) == ["c", "b", "a", "d"]
    assert list(rank_scores({"1": ranking})["1"]) == ["c", "a", "b", "d"]     # the ranking rule of the run files
