"""The whole study's wall time: `dvc repro` of the default params from a clean clone, per stage and per family.

Clones the committed HEAD into a scratch directory (so the project's outputs are untouched), runs `dvc repro`
there with this environment (the clone's ``lib/`` first on ``PYTHONPATH``), and prints each stage's time (the
``<stage>: done in <s>`` line every notebook stage prints), the sum per stage family (``prune@...`` cells
together) and the total against the 30-minute budget.  ``--log FILE`` only parses the output of an earlier run.

    python benchmarks/bench_study.py [--keep] [--json out.json]
    python benchmarks/bench_study.py --overlay configs/cranfield.yaml   # a real-collection overlay, ../shared beside
    python benchmarks/bench_study.py --log /path/to/repro.log
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 30 * 60
_RUNNING = re.compile(r"^Running stage '([^']+)':")
_DONE = re.compile(r"^\S+: done in ([0-9.]+)s")


def parse(log: str) -> list[tuple[str, float]]:
    """(stage name, seconds) for every stage that ran, in order."""
    out, current = [], None
    for line in log.splitlines():
        m = _RUNNING.match(line)
        if m:
            current = m.group(1)
            continue
        m = _DONE.match(line)
        if m and current:
            out.append((current, float(m.group(1))))
            current = None
    return out


def report(stages: list[tuple[str, float]], total: float | None) -> dict:
    family: dict[str, list[float]] = defaultdict(list)
    for name, s in stages:
        cell = name.startswith(("prune@", "prune_controls@", "prune_repeats@"))   # the grid's three matrices
        key = name.split("@")[0] + ("@" + name.split("@")[1].split("-")[0] if cell else "")
        family[key].append(s)
    for name, s in stages:
        print(f"{name:55s} {s:8.1f} s")
    print("-" * 66)
    for key, xs in family.items():
        print(f"{key:40s} {len(xs):3d} stage(s) {sum(xs):8.1f} s")
    stage_sum = sum(s for _, s in stages)
    print(f"{'sum of stage times':40s} {stage_sum:8.1f} s = {stage_sum / 60:.1f} min")
    if total is not None:
        print(f"{'dvc repro wall time':40s} {total:8.1f} s = {total / 60:.1f} min (budget {BUDGET_S / 60:.0f} min)")
    return {"stages": dict(stages), "families": {k: sum(v) for k, v in family.items()}, "stage_sum_s": stage_sum,
            "total_s": total, "budget_s": BUDGET_S}


def clone_head(work: Path) -> tuple[Path, dict[str, str]]:
    """Clone the committed HEAD into ``work/study``; returns it and the environment that runs this environment's
    Python and dvc on the clone's ``lib/`` (numba's cache and the fetched checkpoints shared with the project).
    The project's ``../shared`` (the real collections) is linked beside the clone, as CI places it."""
    clone = work / "study"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (work / "shared").symlink_to(shared.resolve(), target_is_directory=True)
    fetched = ROOT / ".cache" / "models"
    if fetched.is_dir():                    # verified checkpoints (make setup); stages re-verify their hashes
        (clone / ".cache").mkdir(exist_ok=True)
        shutil.copytree(fetched, clone / ".cache" / "models", copy_function=os.link)
    env = dict(os.environ, PYTHONPATH=str(clone / "lib"), DVC_NO_ANALYTICS="1",
               NUMBA_CACHE_DIR=str(ROOT / ".cache" / "numba"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return clone, env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", help="parse this `dvc repro` output instead of running")
    ap.add_argument("--keep", action="store_true", help="keep the scratch clone")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--overlay", action="append", default=[], type=Path,
                    help="apply this params overlay (python -m irprune.overlay) to the clone first; repeatable")
    args = ap.parse_args()
    if args.log:
        text = Path(args.log).read_text(encoding="utf-8", errors="replace")
        m = re.search(r"total=(\d+)s", text)
        res = report(parse(text), float(m.group(1)) if m else None)
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-study-"))
        try:
            clone, env = clone_head(work)
            for overlay in args.overlay:
                path = overlay if overlay.is_absolute() else clone / overlay    # the clone's own copy
                subprocess.run([sys.executable, "-m", "irprune.overlay", str(path)], cwd=clone,
                               env=env, check=True)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=clone, env=env,
                                  capture_output=True, text=True)
            total = time.perf_counter() - t0
            if proc.returncode != 0:
                sys.exit(f"dvc repro failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            res = report(parse(proc.stdout + proc.stderr), total)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
            else:
                print(f"kept {work}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
