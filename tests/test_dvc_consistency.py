"""dvc.yaml and the code stay in step: declared params == sections read; every stage has a notebook."""

from __future__ import annotations

import json

import yaml

from irprune import paths
from irprune.stages import STAGES, is_foreach, is_matrix, stage_sections

NOTEBOOKLESS = {"paper"}   # runs latexmk, not a notebook

from conftest import ROOT


def _raw_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _stages() -> dict:
    """Stage name -> definition; a ``foreach`` stage's definition is its ``do:`` block (``${item}`` unexpanded)."""
    return {name: st["do"] if "foreach" in st else st for name, st in _raw_stages().items()}


def _foreach_items(name: str) -> list[str]:
    """The items of a foreach stage: a literal list, or ``${key}`` naming a params.yaml list."""
    src = _raw_stages()[name]["foreach"]
    if isinstance(src, list):
        return src
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert isinstance(src, str) and src.startswith("${") and src.endswith("}"), src
    items = params[src[2:-1]]
    assert isinstance(items, list) and items, f"foreach source {src} must be a non-empty list in params.yaml"
    return items


def _declared_params(stage: dict) -> list[str]:
    out: list[str] = []
    for p in stage.get("params", []):
        if isinstance(p, str):
            out.append(p)
        else:  # {file: [keys]} form
            for keys in p.values():
                out.extend(keys)
    return out


def test_every_dvc_stage_declares_exactly_the_sections_its_code_reads():
    for name, stage in _stages().items():
        assert name in STAGES, f"dvc.yaml stage {name!r} has no config in irprune.stages"
        assert sorted(_declared_params(stage)) == sorted(stage_sections(name)), name
        assert ("foreach" in _raw_stages()[name]) == is_foreach(name), name
        assert ("matrix" in _raw_stages()[name]) == is_matrix(name), name


def test_foreach_stages_read_the_item_section_of_each_item():
    for name in _stages():
        if not is_foreach(name):
            continue
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        for item in _foreach_items(name):
            sections = stage_sections(name, item)
            assert f"models.{item}" in sections and "${item}" not in "".join(sections)
            assert item in params["models"], f"params.yaml has no models.{item} for stage {name}@{item}"


def test_every_registered_stage_is_in_dvc_yaml():
    assert set(STAGES.names()) <= set(_stages())


def _matrix_item(name: str) -> str:
    """A matrix stage's item name as its command and log file write it: ``${item.a}-${item.b}-...``."""
    return "-".join(f"${{item.{axis}}}" for axis in _raw_stages()[name]["matrix"])


def test_every_stage_runs_its_own_notebook_and_logs_it_uncached():
    for name, stage in _stages().items():
        if name in NOTEBOOKLESS:
            continue
        assert f"python -m irprune.notebook {name}" in stage["cmd"]
        nb = ROOT / paths.notebook(name)
        assert nb.is_file()
        assert str(paths.notebook(name)) in stage["deps"]
        item = "${item}" if is_foreach(name) else _matrix_item(name) if is_matrix(name) else None
        if is_foreach(name):
            assert "--item ${item} -p model ${item}" in stage["cmd"], stage["cmd"]
        if is_matrix(name):
            assert f"--item {item}" in stage["cmd"], stage["cmd"]
            for axis in _raw_stages()[name]["matrix"]:
                assert f"-p {axis} ${{item.{axis}}}" in stage["cmd"], (axis, stage["cmd"])
        log = str(paths.notebook_log(name, item))
        logs = [o for o in stage["outs"] if isinstance(o, dict) and log in o]
        assert logs and logs[0][log]["cache"] is False
        # an executed notebook is a log, never a dependency of another stage
        for other in _stages().values():
            assert not any(str(d).startswith(str(paths.LOGS)) for d in other.get("deps", []))


def test_source_notebooks_are_thin_and_parameterised():
    for nb_path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = json.loads(nb_path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert any("parameters" in c["metadata"].get("tags", []) for c in code), nb_path
        assert not any(c.get("outputs") for c in code), f"{nb_path} committed with outputs"
        assert sum(len("".join(c["source"]).splitlines()) for c in code) <= 60, f"{nb_path} is not thin"


def test_params_yaml_sections_are_all_read_by_some_stage():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    read = {s.split(".")[0] for name in STAGES for s in stage_sections(name)}
    # a list that only drives a foreach (e.g. `rankers`) is read by DVC's templating
    read |= {st["foreach"][2:-1] for st in _raw_stages().values() if isinstance(st.get("foreach"), str)}
    # and the axes of a matrix (e.g. `grid`): templating only, so changing one axis value re-runs only its cells
    read |= {v[2:-1].split(".")[0] for st in _raw_stages().values() for v in st.get("matrix", {}).values()
             if isinstance(v, str)}
    assert set(params) <= read, f"params.yaml sections read by no stage: {set(params) - read}"
    models = {s.split(".")[1] for name in STAGES if is_foreach(name) for item in _foreach_items(name)
              for s in stage_sections(name, item) if s.startswith("models.")}
    assert set(params.get("models", {})) <= models, "params.yaml models.* entries trained by no stage"


def test_params_yaml_loads_for_every_stage():
    from irprune.stages import load_stage

    for name in STAGES:
        if is_foreach(name):
            for item in _foreach_items(name):
                load_stage(name, ROOT / "params.yaml", item=item)
        elif is_matrix(name):
            params = yaml.safe_load((ROOT / "params.yaml").read_text())
            for model in params["grid"]["models"]:
                load_stage(name, ROOT / "params.yaml", item={"model": model})
        else:
            load_stage(name, ROOT / "params.yaml")


def test_matrix_axes_come_from_params_and_every_grid_value_is_valid():
    from irprune.prune_cell import CELL_METHODS

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    grid = params["grid"]
    assert _raw_stages()["prune"]["matrix"] == {"model": "${grid.models}", "method": "${grid.methods}",
                                                "sparsity": "${grid.sparsities}", "seed": "${grid.seeds}"}
    assert set(grid["models"]) <= set(params["models"]) and set(grid["methods"]) <= set(CELL_METHODS.names())
    assert all(0.0 <= s < 1.0 for s in grid["sparsities"])
