"""Benchmark the collect + report stages, LaTeX build included, on a fake default-size grid.

    python benchmarks/bench_report.py [--seeds 2] [--queries 250] [--no-pdf] [--json results.json]

The grid: the three rankers x five methods x sparsities 50%..95% in 5% steps x seeds, each cell with per-query
scores for ``--queries`` test queries (the synthetic collection's test split), GMP pruning logs and BM25.  It is
written by the seeded fake-grid generator of the tests (tests/test_report_fakegrid.py).  Target: under 60 s on
two CPU cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_report_fakegrid import write_grid  # noqa: E402

from irprune.config import from_mapping  # noqa: E402
from irprune.io import atomic_write_json  # noqa: E402
from irprune.pipeline import collect_stage, report_stage  # noqa: E402
from irprune.report.config import CollectStage, ReportStage  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--queries", type=int, default=250)
    ap.add_argument("--no-pdf", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_grid(root, seeds=tuple(range(args.seeds)), n_queries=args.queries)
        gen_s = time.perf_counter() - t0
        (root / "report").mkdir()
        for f in ("paper.tex", "references.bib"):
            shutil.copy(ROOT / "report" / f, root / "report" / f)
        t0 = time.perf_counter()
        c = collect_stage.run(CollectStage(), root=root)
        collect_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = report_stage.run(from_mapping(ReportStage, {"report": {"build_pdf": not args.no_pdf}}), root=root)
        report_s = time.perf_counter() - t0
    out = {"rows": int(len(c.table)), "cell_files": c.n_cell_files, "generate_s": round(gen_s, 2),
           "collect_s": round(collect_s, 2), "report_s": round(report_s, 2),
           "collect_plus_report_s": round(collect_s + report_s, 2),
           **{k: round(v, 2) for k, v in r.timings.items()}}
    for k, v in out.items():
        print(f"{k:>22}: {v}")
    if args.json:
        atomic_write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
