"""Which graded passages rankers put on top: per TREC run of a split, how often the first passage has each grade,
and the grades of the passages ranked above the first relevant one (grade >= ``--relevant``) in the top 10.

On the default collection grade 1 marks the hard distractors (the query's subject and object, but not its fact):
a ranker that cannot see word order ranks them first as often as BM25 does.

    python benchmarks/bench_top_grades.py runs/bm25/test.trec runs/monobert-s0/test.trec [--split test]
"""

from __future__ import annotations

import argparse
from collections import Counter

from irprune import paths
from irprune.data.store import read_dataset
from irprune.runs import read_trec_run


def top_grades(run: dict, qrels: dict, relevant: int = 2, depth: int = 10) -> tuple[Counter, Counter]:
    """(grade of each judged query's first passage, grades above its first relevant one in the top ``depth``);
    an unjudged passage counts as ``"unjudged"``."""
    first: Counter = Counter()
    above: Counter = Counter()
    for qid, labels in qrels.items():
        ranked = [d for d, _ in sorted(run.get(qid, {}).items(), key=lambda x: (-x[1], x[0]))]
        if not ranked:
            continue
        first[labels.get(ranked[0], "unjudged")] += 1
        for d in ranked[:depth]:
            grade = labels.get(d, "unjudged")
            if grade != "unjudged" and grade >= relevant:
                break
            above[grade] += 1
    return first, above


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="TREC run files of the split")
    ap.add_argument("--split", default="test")
    ap.add_argument("--relevant", type=int, default=2, help="lowest grade that counts as relevant (TREC DL: 2)")
    args = ap.parse_args()
    qrels = read_dataset(paths.DATASET).split(args.split).qrels
    for path in args.runs:
        first, above = top_grades(read_trec_run(path), qrels, args.relevant)
        print(f"{path}: first passage by grade {dict(first.most_common())}; above the first relevant "
              f"{dict(above.most_common())}")


if __name__ == "__main__":
    main()
