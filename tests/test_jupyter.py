"""JupyterLab starts a notebook's kernel in the notebook's folder (notebooks/): the stage notebooks still read and
write the project's files, and `make lab` starts for root and non-root users."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT


def test_the_project_root_is_found_from_any_folder_inside_it(tmp_path, monkeypatch):
    from irprune.paths import enter_project_root, find_project_root

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "notebooks" / "deep").mkdir(parents=True)
    assert find_project_root(tmp_path / "notebooks" / "deep") == tmp_path.resolve()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert enter_project_root() == tmp_path.resolve() and Path.cwd() == tmp_path.resolve()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    with pytest.raises(FileNotFoundError, match="start Jupyter or the stage inside the project"):
        enter_project_root()


def test_make_lab_allows_root_only_for_root():
    out = subprocess.run(["make", "-n", "-W", "requirements/lock.txt", "lab"], cwd=ROOT, capture_output=True,
                         text=True).stdout
    line = next(l for l in out.splitlines() if "jupyter lab" in l)
    expanded = subprocess.run(["bash", "-c", f"echo {line.split('jupyter lab', 1)[1]}"], capture_output=True,
                              text=True).stdout.split()
    assert ("--allow-root" in expanded) == (os.getuid() == 0) and expanded[-1] == "notebooks/"


@pytest.mark.slow
def test_a_stage_notebook_runs_with_the_kernel_in_notebooks(tmp_path):
    """Execute notebooks/data.ipynb the way JupyterLab does (kernel cwd = notebooks/) in a copy of the project: it
    finds params.yaml and writes data/ at the project root."""
    import nbformat
    from nbclient import NotebookClient

    from tiny_project import copy_project

    copy_project(tmp_path, skip=("tests/", "benchmarks/"))
    params = (tmp_path / "params.yaml").read_text()
    params = params.replace("    n_docs: 6000\n    n_train_queries: 3000\n    n_dev_queries: 200\n"
                            "    n_test_queries: 1000",
                            "    n_docs: 300\n    n_train_queries: 40\n    n_dev_queries: 20\n    n_test_queries: 20")
    (tmp_path / "params.yaml").write_text(params)
    nb = nbformat.read(tmp_path / "notebooks" / "data.ipynb", as_version=4)
    env_pp = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tmp_path / "lib") + (os.pathsep + env_pp if env_pp else "")
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path / "notebooks")}}).execute()
    finally:
        if env_pp is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = env_pp
    assert (tmp_path / "data" / "card.json").is_file()
    assert not (tmp_path / "notebooks" / "data").exists()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "working directory set to the project root" in outputs
