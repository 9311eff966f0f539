"""Per-stage orchestration overhead of the DVC pipeline: process start, kernel start, imports, DVC bookkeeping.

Builds the tiny project of the tests (``tests/tiny_project.py``: the working tree's files, a tiny grid) in a
scratch folder, runs ``dvc repro`` there with a ``python`` shim first on ``PATH`` that stamps the start and end of
every stage command, and prints per stage:

* ``process``, ``cpu``: the stage command's wall time (interpreter start to exit) and CPU time (kernel included);
* ``papermill``: the notebook runner's own time (``<stage>: done in <s>``, printed by :mod:`irprune.notebook`);
* ``cells``: the sum of the executed notebook's cell durations (papermill's ``metadata.papermill.duration``);
* ``first``: the first code cell after the parameters (the imports and the stage config);
* ``dvc``: DVC's time outside the commands, the gap after the command (commit of this stage, check of the next);

so that ``process - cells`` is process start plus kernel start and shutdown, and orchestration is
``process - cells + first + dvc``.  Then the no-op ``dvc repro`` and ``dvc status`` (medians).

    python benchmarks/bench_overhead.py [--targets report] [--noop-repeats 3] [--keep] [--json out.json]
"""

from __future__ import annotations

import argparse
import resource
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_study import parse  # noqa: E402
from tiny_project import dvc_env, make_tiny_project  # noqa: E402

SHIM = """#!/bin/sh
s=$(date +%s.%N)
/usr/bin/time -f '%U %S' -o "{log}.$$" "{python}" "$@"
rc=$?
printf '%s %s %s %s %s\\n' "$s" "$(date +%s.%N)" "$(tail -n 1 "{log}.$$" | tr ' ' +)" "$rc" "$*" >> "{log}"
rm -f "{log}.$$"
exit $rc
"""


def _stage_of(argv: list[str]) -> tuple[str, str | None] | None:
    """(stage, item) of a ``-m irprune.notebook STAGE [--item ITEM]`` command, else None."""
    if argv[:2] != ["-m", "irprune.notebook"]:
        return None
    item = argv[argv.index("--item") + 1] if "--item" in argv else None
    return argv[2], item


def _notebook_times(log: Path) -> tuple[float, float]:
    """(sum of cell durations, duration of the first code cell after the parameters) of an executed notebook."""
    cells = [c for c in json.loads(log.read_text())["cells"] if c["cell_type"] == "code"]
    durations = [float(c["metadata"].get("papermill", {}).get("duration") or 0.0) for c in cells]
    tags = [set(c["metadata"].get("tags", [])) for c in cells]
    first = next(i for i, t in enumerate(tags) if not t & {"parameters", "injected-parameters"})
    return sum(durations), durations[first]


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(project: Path, env: dict[str, str], targets: list[str]) -> tuple[list[dict], float, float, float]:
    """Run ``dvc repro TARGETS`` in ``project``: per stage command its figures, the wall time, DVC's startup and
    the CPU time of the whole run (DVC and every command)."""
    shim_dir, stamps = project / ".bench-shim", project / ".bench-shim" / "stamps.txt"
    shim_dir.mkdir()
    (shim_dir / "python").write_text(SHIM.format(python=sys.executable, log=stamps))
    (shim_dir / "python").chmod(0o755)
    env = dict(env, PATH=f"{shim_dir}{os.pathsep}{env['PATH']}")
    t0, c0 = time.time(), _children_cpu()
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", *targets], cwd=project, env=env,
                          capture_output=True, text=True)
    t1, cpu = time.time(), _children_cpu() - c0
    if proc.returncode != 0:
        sys.exit(f"dvc repro failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    done = iter(s for _, s in parse(proc.stdout + proc.stderr))
    rows, prev_end = [], t0
    lines = stamps.read_text().splitlines()
    for n, line in enumerate(lines):
        start, end, cpu_txt, _rc, *argv = line.split(" ")
        start_f, end_f = float(start), float(end)
        nxt = float(lines[n + 1].split(" ")[0]) if n + 1 < len(lines) else t1
        stage = _stage_of(argv)
        row = {"stage": " ".join(argv[1:3]) if stage is None else (f"{stage[0]}@{stage[1]}" if stage[1] else stage[0]),
               "process_s": end_f - start_f, "dvc_s": nxt - end_f,
               "process_cpu_s": sum(float(x) for x in cpu_txt.split("+"))}
        if n == 0:
            startup = start_f - prev_end
        if stage is not None:
            from irprune import paths

            cells, first = _notebook_times(project / paths.notebook_log(*stage))
            row.update(papermill_s=next(done), cells_s=cells, first_cell_s=first)
        else:
            row.update(papermill_s=None, cells_s=row["process_s"], first_cell_s=0.0)
        row["orchestration_s"] = row["process_s"] - row["cells_s"] + row["first_cell_s"] + row["dvc_s"]
        rows.append(row)
        prev_end = end_f
    return rows, t1 - t0, startup if lines else t1 - t0, cpu


def timed(project: Path, env: dict[str, str], *args: str, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``dvc ARGS`` (which must run no stage), ``repeats`` times."""
    out, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), _children_cpu()
        proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env, capture_output=True,
                              text=True)
        out.append(round(time.perf_counter() - t0, 2))
        cpu.append(round(_children_cpu() - c0, 2))
        if proc.returncode != 0 or "Running stage" in proc.stdout:
            sys.exit(f"dvc {' '.join(args)} was not a no-op:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return out, cpu


def report(rows: list[dict], wall: float, startup: float, cpu: float, noop: tuple[list[float], list[float]],
           status: tuple[list[float], list[float]]) -> dict:
    f = (lambda v: "-" if v is None else f"{v:6.1f}")
    print(f"{'stage':48s} {'process':>7s} {'cpu':>6s} {'papermill':>9s} {'cells':>6s} {'first':>6s} {'dvc':>6s} {'orch.':>6s}")
    for r in rows:
        print(f"{r['stage'][:48]:48s} {f(r['process_s']):>7s} {f(r['process_cpu_s']):>6s} {f(r['papermill_s']):>9s} {f(r['cells_s']):>6s} "
              f"{f(r['first_cell_s']):>6s} {f(r['dvc_s']):>6s} {f(r['orchestration_s']):>6s}")
    nb = [r for r in rows if r["papermill_s"] is not None]
    mean = (lambda key, rs=nb: statistics.mean(r[key] for r in rs) if rs else 0.0)
    orch = startup + sum(r["orchestration_s"] for r in rows)
    res = {
        "stages": rows, "repro_wall_s": wall, "dvc_startup_s": startup, "orchestration_s": orch,
        "orchestration_fraction": orch / wall,
        "notebook_stage_means_s": {
            "process": mean("process_s"), "papermill": mean("papermill_s"), "cells": mean("cells_s"),
            "first_cell": mean("first_cell_s"), "dvc": mean("dvc_s"),
            "process_start": statistics.mean(r["process_s"] - r["papermill_s"] for r in nb) if nb else 0.0,
            "kernel": statistics.mean(r["papermill_s"] - r["cells_s"] for r in nb) if nb else 0.0,
            "orchestration": mean("orchestration_s")},
        "repro_cpu_s": cpu, "dvc_cpu_s": cpu - sum(r["process_cpu_s"] for r in rows),
        "noop_repro_s": statistics.median(noop[0]), "noop_repro_all_s": noop[0],
        "noop_repro_cpu_s": statistics.median(noop[1]),
        "status_s": statistics.median(status[0]), "status_all_s": status[0], "status_cpu_s": statistics.median(status[1]),
    }
    m = res["notebook_stage_means_s"]
    print("-" * 90)
    print(f"notebook stages: {len(nb)}; mean per stage: process start {m['process_start']:.1f} s, kernel start/stop "
          f"{m['kernel']:.1f} s, first cell {m['first_cell']:.1f} s, dvc {m['dvc']:.1f} s -> orchestration "
          f"{m['orchestration']:.1f} s")
    print(f"dvc repro wall {wall:.1f} s (dvc startup {startup:.1f} s); orchestration {orch:.1f} s = "
          f"{100 * orch / wall:.0f}% of it")
    print(f"CPU: the whole dvc repro {cpu:.1f} s, of which DVC itself {res['dvc_cpu_s']:.1f} s; per notebook stage "
          f"process CPU {mean('process_cpu_s'):.1f} s")
    print(f"no-op dvc repro {res['noop_repro_s']:.2f} s wall, {res['noop_repro_cpu_s']:.2f} s CPU (medians of "
          f"{noop[0]}); dvc status {res['status_s']:.2f} s wall, {res['status_cpu_s']:.2f} s CPU")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="*", default=[], help="dvc repro targets (default: the whole tiny study)")
    ap.add_argument("--noop-repeats", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the scratch project")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    try:
        project = make_tiny_project(work)
        env = dvc_env()      # the copy's lib/ first; PYTHONPATH's entries after it (e.g. a package being tried)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(project / "lib"), env.get("PYTHONPATH")) if p)
        rows, wall, startup, cpu = measure(project, env, args.targets)
        noop = timed(project, env, "repro", *args.targets, repeats=args.noop_repeats)
        status = timed(project, env, "status", *args.targets, repeats=args.noop_repeats)
        res = report(rows, wall, startup, cpu, noop, status)
        res["targets"] = args.targets
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
