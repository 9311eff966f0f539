"""What every stage pays before its work stays small: light stages import no torch, the pruning package loads its
submodules on use, and the notebook runner starts papermill and the kernel lean (benchmarks/bench_overhead.py)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from irprune import notebook
from irprune.stages import STAGES

HEAVY = ("torch", "transformers")
# Stages whose work needs no neural network: their notebook's imports and their config must not import torch.
LIGHT_STAGES = ("data", "bm25", "collect", "report")


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "lib"))


def _loaded(code: str, modules: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of ``modules`` a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {list(modules)!r} if sys.modules.get(m)]))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _notebook_import_lines(stage: str) -> list[str]:
    cells = json.loads((ROOT / "notebooks" / f"{stage}.ipynb").read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            for node in ast.parse("".join(cell["source"])).body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    lines.append(ast.unparse(node))
    return lines


@pytest.mark.parametrize("stage", LIGHT_STAGES)
def test_a_light_stage_imports_no_torch(stage):
    lines = _notebook_import_lines(stage) + [f"import {STAGES.module(stage)}"]
    assert any("irprune" in line for line in lines), lines
    assert _loaded("\n".join(lines)) == [], f"stage {stage!r} imports {HEAVY} through: {lines}"


def test_the_pruning_package_loads_a_submodule_on_first_use():
    assert _loaded("import irprune.pruning\nfrom irprune.pruning import compression_from_density") == []
    assert _loaded("from irprune.pruning import apply_mask") == ["torch"]


def test_the_pruning_package_map_matches_its_imports_and_every_name_resolves():
    import irprune.pruning as pruning

    tree = ast.parse(Path(pruning.__file__).read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    declared = {node.module: tuple(a.name for a in node.names) for node in guarded.body}
    assert declared == pruning._EXPORTS
    for name in pruning.__all__:
        value = getattr(pruning, name)
        assert getattr(value, "__name__", name) == name or not callable(value), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pruning.nope  # noqa: B018


def test_the_kernel_command_drops_the_debugger_and_keeps_the_python_and_arguments():
    spec = [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "/tmp/k.json"]
    cmd = notebook.lean_kernel_cmd(spec)
    assert cmd[0] == sys.executable and cmd[-2:] == ["-f", "/tmp/k.json"] and "-Xfrozen_modules=off" not in cmd
    assert cmd[1] == "-c" and "sys.modules['debugpy'] = None" in cmd[2]
    other = ["julia", "-i", "kernel.jl", "{connection_file}"]
    assert notebook.lean_kernel_cmd(other) == other


def test_hidden_imports_fail_inside_the_block_only():
    name = "irprune_test_module_that_is_hidden"
    with notebook._without((name, "json")):
        with pytest.raises(ImportError):
            __import__(name)
        import json as again                   # already imported: not hidden

        assert again is json
    assert name not in sys.modules


def test_papermill_is_imported_without_the_skipped_modules():
    code = ("from irprune.notebook import SKIPPED_IMPORTS, _without\n"
            "with _without(SKIPPED_IMPORTS):\n    import papermill")
    assert _loaded(code, notebook.SKIPPED_IMPORTS) == []


def test_a_stage_notebook_runs_in_a_kernel_without_the_debugger(tmp_path):
    cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x = 1", "outputs": [],
              "execution_count": None},
             {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": "import json, sys\nfrom pathlib import Path\n"
                        "Path('out.json').write_text(json.dumps({'x': x, 'debugpy': bool(sys.modules.get('debugpy'))}))"}]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                      "display_name": "Python 3"}},
          "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "probe.ipynb").write_text(json.dumps(nb))
    proc = subprocess.run([sys.executable, "-m", "irprune.notebook", "probe", "--item", "a", "-p", "x", "3"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == {"x": 3, "debugpy": False}
    log = json.loads((tmp_path / "logs" / "probe@a.ipynb").read_text())
    assert all(c["metadata"]["papermill"]["status"] == "completed" for c in log["cells"])


def test_the_overhead_benchmark_reads_stage_commands_and_cell_times(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_overhead
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert bench_overhead._stage_of(["-m", "irprune.notebook", "prune", "--item", "m-gmp-0.5-0", "-p", "x", "1"]) \
        == ("prune", "m-gmp-0.5-0")
    assert bench_overhead._stage_of(["-m", "irprune.notebook", "bm25"]) == ("bm25", None)
    assert bench_overhead._stage_of(["-m", "irprune.validate", "--stamp", "x.json"]) is None
    cell = (lambda tags, s: {"cell_type": "code", "metadata": {"tags": tags, "papermill": {"duration": s}}})
    log = tmp_path / "log.ipynb"
    log.write_text(json.dumps({"cells": [cell(["parameters"], 0.1), cell(["injected-parameters"], 0.2),
                                         {"cell_type": "markdown", "metadata": {}}, cell([], 1.5), cell([], 3.0)]}))
    total, first = bench_overhead._notebook_times(log)
    assert (round(total, 6), first) == (4.8, 1.5)
