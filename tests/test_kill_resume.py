"""Kill -9 at a random point of three stages; the re-run resumes and writes byte-identical outputs.

In a tiny project copy (:mod:`tiny_project`) each stage below first runs to completion (the reference), then again
from scratch (``dvc repro -f -s STAGE``) while the test SIGKILLs the whole process tree (DVC, the notebook runner,
the papermill kernel) at a seeded random time, then ``dvc repro -s STAGE`` finishes it:

* ``train@conv_knrm-0``: the trainer writes ``.cache/train-state/conv_knrm-s0`` every few steps, so the re-run resumes
  from the last state (the test asserts one was left by the kill whenever it fell after the first save);
* ``prune@conv_knrm-gmp-0.5-0``: GMP with recovery fine-tuning (no resume state: the cell restarts);
* ``dsi``: the DSI T5's training, beam-search retrieval and the dense cells (no resume state either).

The kill time is uniform in 20-80% of the reference run's working time, counted from its first progress line (so
the kill lands in the training, evaluation, cost measurement or output writing, not in DVC's or the kernel's
start-up).  Every output the stage declares in dvc.lock (but its executed notebook, a log) is then compared with
the reference byte for byte: safetensors weights, TREC runs, tokenizer/vocabulary files, per-query files, cells.
JSON files are compared after dropping the keys that are timings by nature (:data:`TIMING_KEY`): any key ending
in ``_s``, ``_seconds`` or ``_ms`` (``train_seconds``, ``wall_time_s``, ``onnx_export_s``, ``mean_ms``, ...),
any key with ``_ms_`` in it (``latency_ms_per_query``), ``seconds``, the latency speed-ups ``speedup_*`` (ratios
of two timings), and ``resumed_from`` (the step a run resumed at); there are no dates in these files.  No temporary or partial file may be left in an output folder,
and the resume state is removed once the stage has finished.

``KILL_SEED`` (environment, default 0) picks the kill times; the chosen times are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tiny_project import dvc, dvc_env, make_tiny_project

pytestmark = pytest.mark.slow

TRAIN = "train@conv_knrm-0"
PRUNE = "prune@conv_knrm-gmp-0.5-0"
DSI = "dsi"
# Enough trainer steps that a kill mostly falls after a saved state (every 3 steps); one inference engine (torch)
# keeps the cost measurement short; one pruning cell; a progress line for every step.
OVER = {"train": {"max_steps": 24, "epochs": 6, "eval_every": 8, "checkpoint_every": 3, "progress": True},
        "costs": {"engines": ["torch"]},
        "grid": {"train_seeds": [0],
                 "curve": {"models": ["conv_knrm"], "methods": ["gmp"], "sparsities": [0.5], "seeds": [0]},
                 "controls": {"models": [], "methods": [], "sparsities": [], "seeds": []},
                 "repeats": {"models": [], "methods": [], "sparsities": [], "seeds": []}}}
PROGRESS = re.compile(r"^(train conv_knrm-s0|recovery|dsi training): ")
TIMING_KEY = re.compile(r"(_s|_seconds|_ms)$|_ms_|^seconds$|^speedup|^resumed_from$")
TEMPORARY = re.compile(r"\.tmp$|\.part$|\.old-\d+$|^tmp")
KILL_SEED = int(os.environ.get("KILL_SEED", "0"))


@dataclass
class Run:
    rc: int
    lines: list[tuple[float, str]] = field(default_factory=list)   # (seconds since start, line)
    seconds: float = 0.0
    killed_at: float | None = None

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def first_progress(self) -> float:
        return next(t for t, line in self.lines if PROGRESS.match(line))


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (the papermill kernel runs in a session of its own, so a process
    group kill would miss it): stop them all first, so none reacts to another's death, then kill."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGSTOP)
        except psutil.NoSuchProcess:
            pass
    for p in [*procs, *(c for p in procs if p.is_running() for c in p.children(recursive=True))]:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs[1:], timeout=30)   # not the root: Popen.wait reaps it and reads its status


def _run(project: Path, *args: str, kill_after: float | None = None) -> Run:
    """``dvc ARGS`` with its output read line by line; with ``kill_after``, the process tree is SIGKILLed that
    many seconds after the first progress line."""
    env = dict(dvc_env(), IRPRUNE_PROGRESS_EVERY="0", PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dvc", *args], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    run = Run(rc=0)
    started = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            run.lines.append((time.perf_counter() - t0, line.rstrip("\n")))
            if PROGRESS.match(line):
                started.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if kill_after is not None:
        while not started.wait(0.05):
            assert proc.poll() is None, f"dvc {' '.join(args)} ended before its first progress line:\n{run.text}"
        deadline = time.perf_counter() + kill_after
        while time.perf_counter() < deadline and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is None:
            run.killed_at = time.perf_counter() - t0
            _kill_tree(proc.pid)
    run.rc = proc.wait(timeout=600)
    reader.join(timeout=30)
    run.seconds = time.perf_counter() - t0
    return run


def _outputs(project: Path, stage: str) -> list[Path]:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return [project / o["path"] for o in lock["stages"][stage]["outs"] if not o["path"].startswith("logs/")]


def _files(paths: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in paths:
        for f in ([p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())):
            out[str(f)] = f
    return out


def _drop_timings(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _drop_timings(v) for k, v in obj.items() if not TIMING_KEY.search(k)}
    if isinstance(obj, list):
        return [_drop_timings(v) for v in obj]
    return obj


def _content(path: Path) -> bytes | object:
    if path.suffix == ".json":
        return _drop_timings(json.loads(path.read_text()))
    return path.read_bytes()


def _snapshot(project: Path, stage: str) -> dict[str, bytes | object]:
    return {name: _content(f) for name, f in _files(_outputs(project, stage)).items()}


def _leftovers(project: Path, stage: str) -> list[str]:
    """Temporary or partial files in the stage's output folders, beside its outputs and in the resume states."""
    outs = _outputs(project, stage)
    found = [f for p in outs if p.is_dir() for f in p.rglob("*")]
    found += [f for d in {p.parent for p in outs} | {project / ".cache" / "train-state"} if d.is_dir()
              for f in d.iterdir()]
    return sorted(str(f) for f in found if TEMPORARY.search(f.name))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, Run]]:
    """The tiny project with the upstream stages and a reference run of each stage under test."""
    dst = make_tiny_project(tmp_path_factory.mktemp("project"), OVER)
    dvc(dst, "repro", "bm25", "pretrain")
    refs = {}
    for stage in (TRAIN, PRUNE, DSI):
        refs[stage] = ref = _run(dst, "repro", "-s", stage)
        assert ref.rc == 0, ref.text
    return dst, refs


@pytest.mark.parametrize("stage", [TRAIN, PRUNE, DSI])
def test_a_killed_stage_reruns_to_byte_identical_outputs(project: tuple[Path, dict[str, Run]], stage: str):
    root, refs = project
    ref = refs[stage]
    reference = _snapshot(root, stage)
    assert reference, f"{stage} declares no outputs"
    work = ref.seconds - ref.first_progress()
    frac = random.Random(f"{KILL_SEED}:{stage}").uniform(0.2, 0.8)
    # --no-run-cache: DVC would otherwise restore the outputs it saved for this very command and inputs
    delay = frac * work
    for _ in range(4):     # a run faster than the reference may finish first: kill the next one earlier
        killed = _run(root, "repro", "-f", "--no-run-cache", "-s", stage, kill_after=delay)
        if killed.killed_at is not None:
            break
        delay /= 2
    assert killed.rc == -signal.SIGKILL, killed.text
    state = root / ".cache" / "train-state" / "conv_knrm-s0"
    left_state = state.is_dir()
    print(f"{stage}: killed {delay:.1f}s ({delay / work:.0%}) into the {work:.1f}s after the first progress line "
          f"(+{killed.killed_at:.1f}s), last line {killed.lines[-1][1]!r}; resume state left: {left_state}")
    if stage == TRAIN:
        steps = [int(m.group(1)) for _, line in killed.lines
                 if (m := re.match(r"train conv_knrm-s0: step (\d+)", line))]
        finished = (root / "metrics/conv_knrm-s0.json").exists()
        if max(steps, default=0) > OVER["train"]["checkpoint_every"] and not finished:
            assert left_state, "the training was killed after a saved state, but no resume state is left"

    rerun = _run(root, "repro", "--no-run-cache", "-s", stage)
    assert rerun.rc == 0, rerun.text
    assert f"Running stage '{stage}'" in rerun.text, rerun.text
    if stage == TRAIN:
        resumed = re.search(r"resumed at step \d+", (root / "logs" / "train@conv_knrm-0.ipynb").read_text())
        assert bool(resumed) == left_state
        print(f"{stage}: the re-run {resumed.group(0) if resumed else 'started from scratch'}")
    after = _snapshot(root, stage)
    assert sorted(after) == sorted(reference)
    differ = [name + (f" (keys {sorted(k for k in reference[name] if reference[name][k] != after[name].get(k))})"
                      if isinstance(reference[name], dict) else "")
              for name in reference if after[name] != reference[name]]
    assert not differ, f"{stage}: the re-run after a kill wrote other contents to {differ}"
    assert not _leftovers(root, stage), _leftovers(root, stage)
    assert not state.exists(), "the resume state outlived the finished stage"
