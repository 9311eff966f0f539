"""End to end: `dvc repro` on a tiny grid in a copy of the project, metrics shown, caching honoured.

The copy holds the project's files (as git would see them) and the environment's Python; DVC runs without git
(core.no_scm) so the test never touches the developer's repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow

TINY = {"n_docs": 400, "n_train_queries": 60, "n_dev_queries": 25, "n_test_queries": 30}


def _project_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return [f for f in out if f and (ROOT / f).is_file()]


def _dvc(cwd: Path, *args: str) -> str:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))  # reuse the warmed ranx cache
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("project")
    for f in _project_files():
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dst / f)
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["data"]["synthetic"].update(TINY)
    params["bm25"]["depth"] = 50
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _dvc(dst, "config", "core.no_scm", "true")
    _dvc(dst, "repro")
    return dst


def test_repro_builds_dataset_runs_and_metrics(project: Path):
    for split in ("train", "dev", "test"):
        assert (project / "data" / "dataset" / f"queries.{split}.tsv").is_file()
        assert (project / "runs" / "bm25" / f"{split}.trec").is_file()
    assert (project / "logs" / "data.ipynb").is_file() and (project / "logs" / "bm25.ipynb").is_file()
    card = json.loads((project / "data" / "card.json").read_text())
    assert card["source"] == "synthetic"
    shown = json.loads(_dvc(project, "metrics", "show", "--json"))
    text = json.dumps(shown)
    assert "mrr@10" in text and "ndcg@10" in text


def test_second_repro_is_a_no_op(project: Path):
    out = _dvc(project, "repro")
    assert "Running stage" not in out, out


def test_changing_a_bm25_param_reruns_only_bm25(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["bm25"]["k1"] = 1.2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _dvc(project, "repro")
    assert "Running stage 'bm25'" in out and "Running stage 'data'" not in out, out
