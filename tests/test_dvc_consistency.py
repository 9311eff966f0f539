"""dvc.yaml and the code stay in step: declared params == sections read; every stage has a notebook."""

from __future__ import annotations

import fnmatch
import json

import pytest
import yaml

from irprune import paths
from irprune.stages import GRID_BLOCKS, STAGES, is_foreach, is_matrix, stage_notebook, stage_sections

NOTEBOOKLESS = {"paper", "check"}   # latexmk; the params check (python -m irprune.validate)
CHECK = "check"                     # the params check: not a stage config, reads all of params.yaml

from conftest import ROOT


def _raw_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _stages() -> dict:
    """Stage name -> definition; a ``foreach`` stage's definition is its ``do:`` block (``${item}`` unexpanded)."""
    return {name: st["do"] if "foreach" in st else st for name, st in _raw_stages().items() if name != CHECK}


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
        # a stage whose sections name the item runs per item; a matrix stage may also read item-free sections only
        # (the cross-task stages read the whole `tasks` section whatever the pair)
        assert not is_matrix(name) or "matrix" in _raw_stages()[name], name


def _axis_values(name: str, axis: str) -> list:
    """The values of a matrix stage's ``axis``: a literal list, or ``${a.b}`` naming a params.yaml list."""
    src = _raw_stages()[name]["matrix"][axis]
    if isinstance(src, list):
        return src
    node = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert isinstance(src, str) and src.startswith("${") and src.endswith("}"), src
    for part in src[2:-1].split("."):
        node = node[part]
    assert isinstance(node, list), f"matrix axis {src} must be a list in params.yaml"
    return node


def test_per_model_stages_read_the_item_section_of_each_model():
    """train and the pruning matrices read models.<model> for every model of their `model` axis."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    per_model = [n for n in _stages() if is_matrix(n)]
    assert {"train", "prune", "prune_controls", "prune_repeats"} <= set(per_model)
    for name in per_model:
        for model in _axis_values(name, "model"):
            sections = stage_sections(name, {"model": model})
            assert f"models.{model}" in sections and "${item" not in "".join(sections)
            assert model in params["models"], f"params.yaml has no models.{model} for stage {name}@{model}-..."


def test_every_registered_stage_is_in_dvc_yaml():
    assert set(STAGES.names()) <= set(_stages())


def _matrix_item(name: str) -> str:
    """A matrix stage's item name as its command and log file write it: ``${item.a}-${item.b}-...``."""
    return "-".join(f"${{item.{axis}}}" for axis in _raw_stages()[name]["matrix"])


def test_every_stage_runs_its_own_notebook_and_logs_it_uncached():
    for name, stage in _stages().items():
        if name in NOTEBOOKLESS:
            continue
        notebook = stage_notebook(name)           # the pruning grid's extra matrices run prune.ipynb
        assert f"python -m irprune.notebook {notebook} " in stage["cmd"] + " "
        nb = ROOT / paths.notebook(notebook)
        assert nb.is_file()
        assert str(paths.notebook(notebook)) in stage["deps"]
        item = "${item}" if is_foreach(name) else _matrix_item(name) if "matrix" in _raw_stages()[name] else None
        if is_foreach(name):
            assert "--item ${item} -p model ${item}" in stage["cmd"], stage["cmd"]
        if "matrix" in _raw_stages()[name]:
            assert f"--item {item}" in stage["cmd"], stage["cmd"]
            for axis in _raw_stages()[name]["matrix"]:
                assert f"-p {axis} ${{item.{axis}}}" in stage["cmd"], (axis, stage["cmd"])
        log = str(paths.notebook_log(notebook, item))
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
        # each markdown cell opens with a heading that renders as one (no stray text such as "MD## " before the #)
        for cell in (c for c in nb["cells"] if c["cell_type"] == "markdown"):
            first = "".join(cell["source"]).splitlines()[0]
            assert first.startswith("#"), f"{nb_path}: markdown cell starts with {first!r}, not a heading"


def test_source_notebooks_are_valid_nbformat():
    nbformat = pytest.importorskip("nbformat")
    for nb_path in (ROOT / "notebooks").glob("*.ipynb"):
        nbformat.validate(nbformat.read(nb_path, as_version=4))


def test_params_yaml_sections_are_all_read_by_some_stage():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    read = {s.split(".")[0] for name in STAGES for s in stage_sections(name)}
    # a list that only drives a foreach (e.g. `rankers`) is read by DVC's templating
    read |= {st["foreach"][2:-1] for st in _raw_stages().values() if isinstance(st.get("foreach"), str)}
    # and the axes of a matrix (e.g. `grid`): templating only, so changing one axis value re-runs only its cells
    read |= {v[2:-1].split(".")[0] for st in _raw_stages().values() for v in st.get("matrix", {}).values()
             if isinstance(v, str)}
    assert set(params) <= read, f"params.yaml sections read by no stage: {set(params) - read}"
    models = {s.split(".")[1] for name in STAGES if is_matrix(name) for m in _axis_values(name, "model")
              for s in stage_sections(name, {"model": m}) if s.startswith("models.")}
    assert set(params.get("models", {})) <= models, "params.yaml models.* entries trained by no stage"


def test_params_yaml_loads_for_every_stage():
    from irprune.stages import load_stage

    for name in STAGES:
        if is_foreach(name):
            for item in _foreach_items(name):
                load_stage(name, ROOT / "params.yaml", item=item)
        elif is_matrix(name):
            for model in _axis_values(name, "model"):
                load_stage(name, ROOT / "params.yaml", item={"model": model})
        else:
            load_stage(name, ROOT / "params.yaml")


def test_matrix_axes_come_from_params_and_every_grid_value_is_valid():
    """train is rankers x grid.train_seeds; each pruning matrix reads one block of `grid`, its cells prune the dense
    model of their seed, and its templated outs are irprune.paths' for every cell (default and full grid)."""
    from irprune.config import load_params
    from irprune.overlay import deep_merge
    from irprune.prune_cell import RANKING_METHODS

    raw = _raw_stages()
    assert raw["train"]["matrix"] == {"model": "${rankers}", "seed": "${grid.train_seeds}"}
    assert "models/${item.model}-s${item.seed}" in raw["train"]["outs"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    full = deep_merge(load_params(ROOT / "params.yaml"), load_params(ROOT / "configs" / "grid-full.yaml"))
    for name, block in GRID_BLOCKS.items():
        axes = ("model", "method", "sparsity", "seed")
        keys = ("models", "methods", "sparsities", "seeds")
        assert raw[name]["matrix"] == {a: f"${{grid.{block}.{k}}}" for a, k in zip(axes, keys)}, name
        assert "models/${item.model}-s${item.seed}" in raw[name]["deps"]
        assert raw[name]["deps"] == raw["prune"]["deps"] and raw[name]["outs"] == raw["prune"]["outs"]
        for grid in (params["grid"], full["grid"]):
            b = grid[block]
            assert set(b["models"]) <= set(params["rankers"]) and set(b["methods"]) <= set(RANKING_METHODS)
            assert all(0.0 < s < 1.0 for s in b["sparsities"]) and set(b["seeds"]) <= set(grid["train_seeds"])
            for cell in ((m, me, sp, se) for m in b["models"][:1] for me in b["methods"][:1]
                         for sp in b["sparsities"][:1] for se in b["seeds"][-1:]):
                item = dict(zip(axes, cell))
                assert _fill(raw[name]["outs"][0], item) == str(paths.prune_run_dir(paths.cell_id(*cell)))
                dep = _fill("models/${item.model}-s${item.seed}", item)
                assert dep == str(paths.model_dir(paths.trained(cell[0], cell[3])))


def _fill(template: str, item: dict) -> str:
    for k, v in item.items():
        template = template.replace(f"${{item.{k}}}", str(v))
    return template


def test_the_default_grid_is_the_proposals():
    """GMP at 0.50-0.95 in 5% steps for every ranker at seed 0, one-shot magnitude and random controls at 0.5, 0.8,
    0.9 and 0.95, and three training seeds for the dense models and the cells at 0.8 and 0.9."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    grid, rankers = params["grid"], params["rankers"]
    assert grid["train_seeds"] == [0, 1, 2]
    curve, controls, repeats = grid["curve"], grid["controls"], grid["repeats"]
    assert curve["models"] == rankers and curve["methods"] == ["gmp"] and curve["seeds"] == [0]
    assert [round(s, 2) for s in curve["sparsities"]] == [round(0.5 + 0.05 * i, 2) for i in range(10)]
    assert controls["methods"] == ["magnitude", "random"] and controls["sparsities"] == [0.5, 0.8, 0.9, 0.95]
    assert set(repeats["methods"]) == {"gmp", "magnitude", "random"} and repeats["sparsities"] == [0.8, 0.9]
    assert repeats["seeds"] == [1, 2] and controls["models"] == repeats["models"] == rankers


def test_task_grid_axes_come_from_params_and_name_valid_pairs_and_methods():
    from irprune.pipeline import task_stage
    from irprune.report import palette
    from irprune.tasks import TASK_METHODS

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    grid = params["task_grid"]
    raw = _raw_stages()
    assert raw["task_dense"]["matrix"] == {"pair": "${task_grid.pairs}", "seed": "${task_grid.seeds}"}
    assert raw["task"]["matrix"] == {"pair": "${task_grid.pairs}", "method": "${task_grid.methods}",
                                     "sparsity": "${task_grid.sparsities}", "seed": "${task_grid.seeds}"}
    cfg = task_stage.load_task_stage(ROOT / "params.yaml")
    for pair in grid["pairs"]:
        task, model = task_stage.split_pair(pair)
        assert model in getattr(cfg.tasks, task).models, f"{pair}: add {model} to tasks.{task}.models"
    assert grid["methods"] and "dense" not in grid["methods"]
    assert all(m in TASK_METHODS and m in palette.METHOD_STYLES for m in grid["methods"])
    assert all(0.0 < s < 1.0 for s in grid["sparsities"])


def test_task_stage_outs_are_the_paths_the_code_writes():
    """The matrix's templated outs and the dense weights dep equal irprune.pipeline.task_stage's paths for every
    grid item (DVC writes ${item.sparsity} as str(float))."""
    from irprune.pipeline import task_stage

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    grid = params["task_grid"]
    raw = _raw_stages()

    def fill(text: str, item: dict) -> str:
        for k, v in item.items():
            text = text.replace(f"${{item.{k}}}", str(v))
        return text

    def outs(stage: dict) -> set[str]:
        return {o if isinstance(o, str) else next(iter(o)) for o in stage["outs"]}

    for pair in grid["pairs"]:
        task, model = task_stage.split_pair(pair)
        for seed in grid["seeds"]:
            item = {"pair": pair, "seed": seed}
            dense = {fill(o, item) for o in outs(raw["task_dense"])}
            assert {str(task_stage.dense_weights_path(task, model, seed)),
                    str(task_stage.cell_path(task, model, "dense", 0.0, seed)),
                    str(task_stage.record_path(task, model, "dense", 0.0, seed))} < dense
            for method in grid["methods"]:
                for sp in grid["sparsities"]:
                    item = {"pair": pair, "method": method, "sparsity": sp, "seed": seed}
                    got = {fill(o, item) for o in outs(raw["task"])}
                    assert {str(task_stage.cell_path(task, model, method, sp, seed)),
                            str(task_stage.record_path(task, model, method, sp, seed))} < got
                    assert str(task_stage.dense_weights_path(task, model, seed)) in \
                        {fill(d, item) for d in raw["task"]["deps"]}


def test_the_full_task_overlay_is_a_valid_params_file(tmp_path):
    """configs/tasks-full.yaml merged into params.yaml loads for the task stages, names valid grid values, and its
    sparsities are the GraSP/NLP report's compression axis c = 0.5, 1, 2 (sparsity = 1 - 10^-c)."""
    from irprune.config import load_params
    from irprune.overlay import deep_merge
    from irprune.pipeline import task_stage
    from irprune.pruning.sparsity import sparsity_from_compression
    from irprune.stages import load_stage
    from irprune.tasks import TASK_METHODS

    merged = deep_merge(load_params(ROOT / "params.yaml"), load_params(ROOT / "configs" / "tasks-full.yaml"))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    cfg = load_stage("task", path)
    assert cfg.tasks.translation.seq2seq.d_model == 512 and cfg.tasks.pruning.include == ("linear",)
    grid = merged["task_grid"]
    for pair in grid["pairs"]:
        task, model = task_stage.split_pair(pair)
        assert model in getattr(cfg.tasks, task).models
    assert set(grid["methods"]) == set(TASK_METHODS) - {"dense"}
    for s, c in zip(grid["sparsities"], (0.5, 1.0, 2.0)):
        assert abs(s - sparsity_from_compression(c)) < 1e-5


@pytest.mark.parametrize("name", ["vision-full.yaml", "vision-mnist.yaml"])
def test_the_vision_overlays_are_valid_params_files(tmp_path, name):
    """configs/vision-*.yaml merged into params.yaml load for the task stages (the dataset's image size fits every
    vision model), prune conv and linear weights, run every method at the compression axis c = 0.5, 1, 2 and the
    study's sparsities over three seeds, and keep the default vision pair."""
    from irprune.config import load_params
    from irprune.overlay import deep_merge
    from irprune.pipeline import task_stage
    from irprune.pruning.sparsity import sparsity_from_compression
    from irprune.stages import load_stage
    from irprune.tasks import TASK_METHODS

    merged = deep_merge(load_params(ROOT / "params.yaml"), load_params(ROOT / "configs" / name))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    cfg = load_stage("task", path)
    assert cfg.tasks.vision.dataset in ("mnist", "cifar10") and {"conv", "linear"} <= set(cfg.tasks.pruning.include)
    grid = merged["task_grid"]
    assert "vision-lenet" in grid["pairs"]
    for pair in grid["pairs"]:
        task, model = task_stage.split_pair(pair)
        assert model in getattr(cfg.tasks, task).models
    assert set(grid["methods"]) == set(TASK_METHODS) - {"dense"} and grid["seeds"] == [0, 1, 2]
    for c in (0.5, 1.0, 2.0):
        assert any(abs(s - sparsity_from_compression(c)) < 1e-5 for s in grid["sparsities"]), c
    default = yaml.safe_load((ROOT / "params.yaml").read_text())["task_grid"]["sparsities"]
    assert set(default) <= set(grid["sparsities"])


@pytest.mark.parametrize("overlay", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_every_overlay_applies_and_validates_every_stage(tmp_path, overlay):
    """`python -m irprune.overlay configs/X.yaml` validates the merged params for every stage, the foreach
    (per ranker) and matrix (per grid model) stages included, then writes them."""
    import shutil

    from irprune.config import load_params
    from irprune.overlay import apply_overlay

    from irprune.errors import ConfigError

    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    (tmp_path / "collections").mkdir()
    local = (load_params(ROOT / "configs" / overlay).get("data") or {}).get("local", {}).get("path")
    if local and not (ROOT / local).exists():      # a real collection not present on this machine
        with pytest.raises(ConfigError, match="data.local.path"):
            apply_overlay(ROOT / "configs" / overlay, path)
        return
    if local:
        (tmp_path / local).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / local).symlink_to(ROOT / local)
    merged = apply_overlay(ROOT / "configs" / overlay, path)
    assert load_params(path) == merged


def test_dsi_grid_axes_outs_and_collect_globs_match_the_code():
    """dsi_prune's matrix comes from params.yaml's dsi_grid with valid methods and sparsities; its templated outs
    are dsi_prune_stage's cell folders (also under the full overlay); collect gathers their cell files and the
    dense DSI's, and collect/report depend on the DSI outputs."""
    from irprune.config import load_params
    from irprune.dsi.prune import DSI_METHODS
    from irprune.overlay import deep_merge
    from irprune.pipeline import dsi_prune_stage, dsi_stage

    raw = _raw_stages()
    assert raw["dsi_prune"]["matrix"] == {"method": "${dsi_grid.methods}", "sparsity": "${dsi_grid.sparsities}",
                                          "seed": "${dsi_grid.seeds}"}
    assert "models/dsi" in raw["dsi_prune"]["deps"] and "models/dsi" in raw["dsi"]["outs"]
    assert str(dsi_stage.CELL_DIR) in {next(iter(o)) for o in raw["dsi"]["outs"] if isinstance(o, dict)}
    full = deep_merge(load_params(ROOT / "params.yaml"), load_params(ROOT / "configs" / "dsi-full.yaml"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for grid in (params["dsi_grid"], full["dsi_grid"]):
        assert grid["methods"] and set(grid["methods"]) <= set(DSI_METHODS)
        assert all(0.0 < s < 1.0 for s in grid["sparsities"])
        for m in grid["methods"]:
            for s in grid["sparsities"]:
                for seed in grid["seeds"]:
                    out = raw["dsi_prune"]["outs"][0]
                    for k, v in {"method": m, "sparsity": s, "seed": seed}.items():
                        out = out.replace(f"${{item.{k}}}", str(v))
                    assert out == str(dsi_prune_stage.cell_dir(m, s, seed))
    assert set(full["dsi_grid"]["sparsities"]) >= {0.1, 0.3, 0.5, 0.9, 0.95} and full["dsi_grid"]["seeds"] == [0, 1, 2]
    globs = params["collect"]["cell_globs"]
    for path in (dsi_prune_stage.cell_dir("gmp", 0.5, 0) / "cell.test.json", dsi_stage.CELL_DIR / "dense.test.json"):
        assert any(fnmatch.fnmatch(str(path), g.replace("**/", "*")) for g in globs), path
    assert "runs/dsi_prune" in raw["collect"]["deps"]
    assert {"runs/dsi_prune", "metrics/dsi.json"} <= set(raw["report"]["deps"])


def test_the_params_check_runs_first_and_every_stage_depends_on_its_stamp():
    """`check` validates all of params.yaml (whole-file params dep) and writes a constant stamp; every other stage
    depends on the stamp, so DVC runs the check before any stage that could delete outputs."""
    check = _raw_stages()[CHECK]
    assert check["params"] == [{"params.yaml": None}]
    assert f"python -m irprune.validate --stamp {paths.PARAMS_CHECK}" == check["cmd"]
    assert check["outs"] == [{str(paths.PARAMS_CHECK): {"cache": False}}]
    assert "lib/irprune" in check["deps"]
    for name, stage in _stages().items():
        assert str(paths.PARAMS_CHECK) in stage["deps"], f"stage {name} must depend on {paths.PARAMS_CHECK}"


def test_the_data_stage_depends_on_the_local_collection_folder():
    assert "${data.local.path}" in _raw_stages()["data"]["deps"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert (ROOT / params["data"]["local"]["path"]).exists()


def test_metrics_files_are_not_gitignored_so_experiments_keep_them():
    """`dvc exp run` commits what git tracks; a gitignored metrics file shows as `!` in `dvc exp show`."""
    import subprocess

    metrics = sorted({next(iter(m)) if isinstance(m, dict) else m for st in _stages().values()
                      for m in st.get("metrics", [])})
    assert metrics
    proc = subprocess.run(["git", "check-ignore", "--no-index", *metrics], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == "", f"gitignored metrics files: {proc.stdout}"


def test_the_dense_stage_depends_on_its_teacher_a_trained_ranker_of_the_grid():
    """dense.train.teacher names the folder the dense stage reads: a dep templated from the param, and by default a
    ranker that dvc.yaml's train matrix trains."""
    raw = _raw_stages()
    assert "models/${dense.train.teacher}" in raw["dense"]["deps"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    model, seed = paths.parse_trained(params["dense"]["train"]["teacher"])
    assert model in params["rankers"] and seed in params["grid"]["train_seeds"]
    assert params["dense"]["train"]["teacher"] == paths.trained(model, seed)
