"""Benchmark the pipeline's wall time: data + BM25 stages from scratch, and a no-op `dvc repro`.

Run from the project root inside the environment (``make bench`` or ``.venv/bin/python
benchmarks/bench_pipeline.py``).  Targets: data stage incl. BM25 < 60 s on 2 CPU
cores; a no-op ``dvc repro`` (everything cached) < 5 s.  Prints one line per measurement and, with --json, writes
the figures to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dvc(*args: str) -> tuple[float, str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return dt, proc.stdout + proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--target", default="bm25", help="stage to force-reproduce with its upstream stages")
    ap.add_argument("--noop-repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    figures: dict[str, object] = {"cpu_count": os.cpu_count()}
    dt, out = _dvc("repro", "-f", args.target)
    figures[f"repro_force_{args.target}_s"] = round(dt, 2)
    for stage, secs in re.findall(r"^(\w[\w@.-]*): done in ([\d.]+)s", out, flags=re.M):
        figures[f"stage_{stage}_notebook_s"] = float(secs)
    noop = [_dvc("repro")[0] for _ in range(args.noop_repeats)]
    figures["repro_noop_s_median"] = round(statistics.median(noop), 2)
    figures["repro_noop_s_all"] = [round(x, 2) for x in noop]
    for k, v in figures.items():
        print(f"{k}: {v}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
