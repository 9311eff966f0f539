"""The count of ``benchmarks/bench_top_grades.py``: grades of the first passage and of those above the first
relevant one."""

from __future__ import annotations

from benchmark_module import load_benchmark


def test_top_grades_counts_first_passages_and_what_precedes_the_first_relevant() -> None:
    top_grades = load_benchmark("bench_top_grades").top_grades
    qrels = {"q1": {"a": 1, "b": 3, "c": 0}, "q2": {"x": 2}, "q3": {"y": 3}}
    run = {"q1": {"a": 9.0, "n": 8.0, "b": 7.0, "c": 6.0},   # distractor, unjudged, then the answer
           "q2": {"x": 5.0, "z": 1.0},                        # relevant first: nothing above it
           "q3": {}}                                          # no candidates: not counted
    first, above = top_grades(run, qrels)
    assert first == {1: 1, 2: 1}
    assert above == {1: 1, "unjudged": 1}
    first, above = top_grades(run, qrels, relevant=3)         # grade 2 no longer relevant: x counts above
    assert above == {1: 1, "unjudged": 2, 2: 1}
