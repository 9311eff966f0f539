"""dvc.yaml and the code stay in step: declared params == sections read; every stage has a notebook."""

from __future__ import annotations

import json

import yaml

from irprune import paths
from irprune.stages import STAGES, stage_sections

from conftest import ROOT


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


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


def test_every_registered_stage_is_in_dvc_yaml():
    assert set(STAGES.names()) <= set(_stages())


def test_every_stage_runs_its_own_notebook_and_logs_it_uncached():
    for name, stage in _stages().items():
        assert f"python -m irprune.notebook {name}" in stage["cmd"]
        nb = ROOT / paths.notebook(name)
        assert nb.is_file()
        assert str(paths.notebook(name)) in stage["deps"]
        logs = [o for o in stage["outs"] if isinstance(o, dict) and str(paths.notebook_log(name)) in o]
        assert logs and logs[0][str(paths.notebook_log(name))]["cache"] is False
        # an executed notebook is a log, never a dependency of another stage
        for other in _stages().values():
            assert str(paths.notebook_log(name)) not in other.get("deps", [])


def test_source_notebooks_are_thin_and_parameterised():
    for nb_path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = json.loads(nb_path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert any("parameters" in c["metadata"].get("tags", []) for c in code), nb_path
        assert not any(c.get("outputs") for c in code), f"{nb_path} committed with outputs"
        assert sum(len("".join(c["source"]).splitlines()) for c in code) <= 60, f"{nb_path} is not thin"


def test_params_yaml_sections_are_all_read_by_some_stage():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    read = {s for name in STAGES for s in stage_sections(name)}
    assert set(params) <= read, f"params.yaml sections read by no stage: {set(params) - read}"


def test_params_yaml_loads_for_every_stage():
    from irprune.stages import load_stage

    for name in STAGES:
        load_stage(name, ROOT / "params.yaml")
