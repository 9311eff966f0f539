"""DVC experiments as the README's recipe runs them, in a git repository made from a tiny copy of the project (slow).

Baseline: ``dvc repro bm25`` and a commit of ``dvc.lock`` with the small metrics files; then
``dvc exp run -S bm25.k1=1.0 -S models.monobert.train.lr=2e-4 -S grid.curve.sparsities=[0.5,0.8] bm25`` runs the cheap
stages only (check, data, bm25) on a shrunken synthetic collection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_params_layout import _changed_lines, _key_lines, _unified

pytestmark = pytest.mark.slow

SETS = {"bm25.k1": ("1.0", 1.0), "models.monobert.train.lr": ("2e-4", 2e-4),
        "grid.curve.sparsities": ("[0.5,0.8]", [0.5, 0.8])}
DROP = "lib/|models/|notebooks/"      # dependency columns (paths) in `dvc exp show`, as in the README's recipe


def _run(cwd: Path, *args: str) -> str:
    """Run a command in the copy (DVC stages import the copy's own lib/); asserts it succeeds, returns stdout."""
    from tiny_project import dvc_env

    env = dict(dvc_env(), PYTHONPATH=str(cwd / "lib"), OMP_NUM_THREADS="1")
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _dvc(cwd: Path, *args: str) -> str:
    return _run(cwd, sys.executable, "-m", "dvc", *args)


def _experiment(rows: list[dict], name: str) -> dict:
    """The ``data`` of experiment ``name`` in ``dvc exp show --json``'s rows."""
    for row in rows:
        for exp in row.get("experiments") or []:
            if exp.get("name") == name:
                return exp["revs"][0]["data"]
    raise AssertionError(f"no experiment {name!r} in dvc exp show --json: {json.dumps(rows)[:2000]}")


def _md_cells(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()
            if line.startswith("|") and not line.startswith("|--")]


def test_exp_run_set_param_keeps_params_yaml_and_shows_the_metrics_side_by_side(tmp_path):
    from irprune.overlay import overlay_text
    from tiny_project import TINY, copy_project

    copy_project(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text(overlay_text(params.read_text(), {"data": {"synthetic": TINY}, "bm25": {"depth": 50}}))
    _run(tmp_path, "git", "init", "-q")
    _run(tmp_path, "git", "config", "user.name", "irprune tests")
    _run(tmp_path, "git", "config", "user.email", "tests@irprune.invalid")
    _run(tmp_path, "git", "add", "-A")
    _run(tmp_path, "git", "commit", "-qm", "project")

    _dvc(tmp_path, "repro", "bm25")
    _run(tmp_path, "git", "add", "dvc.lock", "metrics", "data/card.json")
    _run(tmp_path, "git", "commit", "-qm", "baseline")
    before = params.read_text()
    baseline = json.loads((tmp_path / "metrics" / "bm25.json").read_text())

    _dvc(tmp_path, "exp", "run", "-n", "k1", *(a for k, (typed, _) in SETS.items() for a in ("-S", f"{k}={typed}")),
         "bm25")

    # (a) params.yaml: the three values changed, every other byte as committed (and so in the experiment's commit)
    after = params.read_text()
    expected = yaml.safe_load(before)
    for key, (_, value) in SETS.items():
        *parents, last = key.split(".")
        node = expected
        for part in parents:
            node = node[part]
        node[last] = value
    assert yaml.safe_load(after) == expected
    changed = _changed_lines(before, after)
    allowed = set().union(*(_key_lines(before, key) for key in SETS))
    assert changed and changed <= allowed, _unified(before, after)
    assert _run(tmp_path, "git", "show", "refs/exps/" + _exp_ref(tmp_path, "k1") + ":params.yaml") == after

    # (b) dvc exp show --json: the experiment holds its bm25 metrics (the applied workspace's file) and params
    result = json.loads((tmp_path / "metrics" / "bm25.json").read_text())
    exp = _experiment(json.loads(_dvc(tmp_path, "exp", "show", "--json")), "k1")
    assert exp["metrics"]["metrics/bm25.json"]["data"] == result
    assert exp["params"]["params.yaml"]["data"]["bm25"]["k1"] == 1.0

    # (c) dvc metrics diff: the baseline commit against the workspace lists the bm25 metrics k1 changed
    diff = json.loads(_dvc(tmp_path, "metrics", "diff", "--json"))["metrics/bm25.json"]
    moved = {k: v for k, v in diff.items() if v.get("old") != v.get("new")}
    assert moved, diff
    for key, v in moved.items():
        split, metric = key.split(".", 1)
        assert (v["old"], v["new"]) == (baseline[split][metric], result[split][metric]), key

    # The README's table: only what differs, no `!` (unreadable metrics); the grid change adds and removes prune
    # stages, whose dependency hashes the --drop leaves out, so the columns are the params and the bm25 metrics.
    table = _md_cells(_dvc(tmp_path, "exp", "show", "--only-changed", "--md", "--drop", DROP))
    header, rows = table[0], table[1:]
    metric_columns = {f"{s}.{m}" for s, m in (k.split(".", 1) for k in moved)}
    assert set(header) == {"Experiment", "Created", *SETS} | metric_columns, header
    assert not any(cell == "!" for row in rows for cell in row), table


def _exp_ref(cwd: Path, name: str) -> str:
    """The ``refs/exps/..`` suffix of experiment ``name``."""
    refs = _run(cwd, "git", "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    (ref,) = [r for r in refs if r.endswith("/" + name)]
    return ref.removeprefix("refs/exps/")
