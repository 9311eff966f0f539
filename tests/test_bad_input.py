"""Bad input, as a new user makes it: every case gives a clear message naming the key or file and the fix, and
nothing computed is lost.

Params and grids go through :func:`irprune.validate.params_problems` (what the first DVC stage, ``check``, runs);
overlays through ``python -m irprune.overlay``; collection files and qrels through the data stage's loader; and
checkpoints through every loader the stages use.  The slow case at the end runs DVC: a typo stops ``dvc repro`` at
the check with the finished stage's outputs untouched, and after the fix nothing is recomputed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from conftest import ROOT
from irprune.errors import ConfigError, DataFormatError, IRPruneError

BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def _params_file(tmp_path: Path, change: Callable[[dict], Any] | None = None, text: str | None = None) -> Path:
    """A copy of params.yaml in a project-like folder (with the default collections/), changed by ``change``."""
    (tmp_path / "collections").mkdir(exist_ok=True)
    path = tmp_path / "params.yaml"
    if text is not None:
        path.write_text(text)
        return path
    params = copy.deepcopy(BASE)
    if change is not None:
        change(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def _set(dotted: str, value: Any) -> Callable[[dict], None]:
    def change(params: dict) -> None:
        node = params
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return change


def _delete(dotted: str) -> Callable[[dict], None]:
    def change(params: dict) -> None:
        node = params
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        del node[last]
    return change


# (case, change, words the message must hold: the key or value, and the fix or the allowed values)
PARAM_CASES: list[tuple[str, Callable[[dict], Any], tuple[str, ...]]] = [
    ("grid sparsity above 1", _set("grid.curve.sparsities", [0.5, 1.3]), ("grid.curve.sparsities", "1.3", "(0, 1)")),
    ("grid sparsity negative", _set("grid.controls.sparsities", [-0.1]), ("grid.controls.sparsities", "-0.1")),
    ("grid sparsity 0", _set("grid.curve.sparsities", [0.0]), ("grid.curve.sparsities", "0.0", "(0, 1)")),
    ("grid sparsity a string", _set("grid.curve.sparsities", ["0.5"]), ("grid.curve.sparsities", "'0.5'", "a number")),
    ("grid sparsity twice", _set("grid.curve.sparsities", [0.5, 0.5]), ("grid.curve.sparsities", "more than once",
                                                                         "remove")),
    ("grid method typo", _set("grid.controls.methods", ["magnitud"]), ("grid.controls.methods", "'magnitud'",
                                                                        "magnitude")),
    ("grid model not trained", _set("rankers", ["monobert"]), ("grid.curve.models", "conv_knrm", "add it to rankers")),
    ("grid seed a float", _set("grid.repeats.seeds", [0.5]), ("grid.repeats.seeds", "0.5", "integers")),
    ("grid seed a boolean", _set("grid.curve.seeds", [True]), ("grid.curve.seeds", "True", "integers")),
    ("grid seed not trained", _set("grid.repeats.seeds", [1, 3]), ("grid.repeats.seeds", "3", "grid.train_seeds",
                                                                   "add 3 to grid.train_seeds")),
    ("grid train seed negative", _set("grid.train_seeds", [0, -1, 1, 2]), ("grid.train_seeds", "-1", "integers")),
    ("grid train seeds empty", _set("grid.train_seeds", []), ("grid.train_seeds", "non-empty list")),
    ("grid cell in two blocks", _set("grid.controls.methods", ["gmp", "random"]),
     ("grid.curve and grid.controls", "monobert-gmp-0.5-0", "remove them from one block")),
    ("grid axis not a list", _set("grid.curve.methods", "gmp"), ("grid.curve.methods", "must be a list")),
    ("grid block not a mapping", _set("grid.controls", ["magnitude"]), ("grid.controls", "must be a mapping")),
    ("grid key typo", _set("grid.curve.sparsity", [0.5]), ("grid.curve.sparsity", "allowed keys under grid.curve",
                                                             "sparsities")),
    ("grid old flat key", _set("grid.methods", ["gmp"]), ("grid.methods", "allowed keys under grid", "curve")),
    ("grid heads on a kernel model", _set("grid.curve.methods", ["heads"]), ("grid.curve.methods", "'heads'",
                                                                             "monobert only")),
    ("grid structured on a kernel model", _set("grid.controls.methods", ["structured"]),
     ("grid.controls.methods", "'structured'", "monobert only")),
    ("grid section missing", _delete("grid"), ("section grid", "copy it")),
    ("ranker unknown", _set("rankers", ["monobert", "bert"]), ("rankers", "'bert'", "monobert")),
    ("ranker without a models section", _delete("models.conformer_kernel"),
     ("models.conformer_kernel", "add a models.conformer_kernel section")),
    ("task pair malformed", _set("task_grid.pairs", ["classification"]), ("task_grid.pairs", "<task>-<model>")),
    ("task pair with another task's model", _set("task_grid.pairs", ["classification-seq2seq"]),
     ("classification-seq2seq", "embedding_bag")),
    ("task pair not built", _set("tasks.classification.models", ["transformer"]),
     ("classification-embedding_bag", "tasks.classification.models")),
    ("task method dense", _set("task_grid.methods", ["dense"]), ("task_grid.methods", "'dense'", "gmp")),
    ("task sparsity 0", _set("task_grid.sparsities", [0.0]), ("task_grid.sparsities", "(0, 1)")),
    ("dsi method typo", _set("dsi_grid.methods", ["gmpp"]), ("dsi_grid.methods", "'gmpp'", "magnitude")),
    ("dsi sparsity 1", _set("dsi_grid.sparsities", [1.0]), ("dsi_grid.sparsities", "(0, 1)")),
    ("unknown section", _set("grd", {"models": []}), ("'grd'", "known sections", "grid")),
    ("tasks key typo", _set("tasks.num_thread", 1), ("tasks.num_thread", "num_threads")),
    ("train key typo", _set("train.learning_rate", 0.1), ("train.learning_rate", "lr")),
    ("wrong type", _set("bm25.k1", "high"), ("bm25.k1", "'high'", "a number")),
    ("literal typo", _set("train.loss", "softmax"), ("train.loss", "'softmax'", "listwise")),
    ("model override typo", _set("models.conv_knrm.n_filter", 8), ("models.conv_knrm", "n_filter", "n_filters")),
    ("local collection folder missing", _set("data.local.path", "nowhere"), ("data.local.path", "'nowhere'",
                                                                             "fix the path")),
    ("local collection folder empty", _set("data.local.path", ""), ("data.local.path", "collections")),
    ("report sparsity out of range", _set("report.key_sparsities", [0.5, 1.5]), ("report.key_sparsities", "1.5")),
]


@pytest.mark.parametrize("case,change,words", PARAM_CASES, ids=[c[0] for c in PARAM_CASES])
def test_bad_params_are_reported_with_the_key_and_the_fix(tmp_path, case, change, words):
    from irprune.validate import params_problems, validate_params

    path = _params_file(tmp_path, change)
    problems = params_problems(path)
    assert problems, f"{case}: no problem reported"
    text = "\n".join(problems)
    for word in words:
        assert word in text, f"{case}: {word!r} not in\n{text}"
    with pytest.raises(ConfigError, match="problem"):
        validate_params(path)


def test_the_repository_params_are_valid():
    from irprune.validate import params_problems

    assert params_problems(ROOT / "params.yaml") == []


def test_every_problem_is_reported_at_once(tmp_path):
    from irprune.validate import params_problems

    def change(p: dict) -> None:
        p["grid"]["curve"]["sparsities"] = [1.3]
        p["grid"]["controls"]["methods"] = ["magnitud"]
        p["tasks"]["num_thread"] = 1
    text = "\n".join(params_problems(_params_file(tmp_path, change)))
    assert "1.3" in text and "magnitud" in text and "tasks.num_thread" in text


@pytest.mark.parametrize("text,words", [
    ("grid: [unclosed\n", ("not valid YAML",)),
    ("- a list\n", ("must hold a mapping",)),
], ids=["invalid YAML", "not a mapping"])
def test_a_malformed_params_file_names_the_file(tmp_path, text, words):
    from irprune.validate import validate_params

    path = _params_file(tmp_path, text=text)
    with pytest.raises(ConfigError) as e:
        validate_params(path)
    assert str(path) in str(e.value) and all(w in str(e.value) for w in words)


def test_a_missing_params_file_says_where_to_run(tmp_path):
    from irprune.validate import main

    assert main(["--params", str(tmp_path / "params.yaml")]) == 2


def test_validate_command_writes_a_constant_stamp_only_when_valid(tmp_path, capsys):
    from irprune.validate import STAMP, main

    stamp = tmp_path / "metrics" / "params_check.json"
    bad = _params_file(tmp_path, _set("grid.curve.sparsities", [1.3]))
    assert main(["--params", str(bad), "--stamp", str(stamp)]) == 2
    err = capsys.readouterr().err
    assert "grid.curve.sparsities" in err and "no output was deleted" in err and not stamp.exists()
    good = _params_file(tmp_path)
    assert main(["--params", str(good), "--stamp", str(stamp)]) == 0
    assert json.loads(stamp.read_text()) == STAMP


# --- overlays ---------------------------------------------------------------------------------------------------

OVERLAY_CASES = [
    ("sparsity 1.3", "grid: {curve: {sparsities: [0.5, 1.3]}}\n", ("grid.curve.sparsities", "1.3")),
    ("sparsity -0.1", "grid: {repeats: {sparsities: [-0.1]}}\n", ("grid.repeats.sparsities", "-0.1")),
    ("method typo", "grid: {controls: {methods: [magnitud]}}\n", ("grid.controls.methods", "magnitud", "magnitude")),
    ("seed not trained", "grid: {train_seeds: [0]}\n", ("grid.repeats.seeds", "grid.train_seeds")),
    ("unknown ranker", "rankers: [monobert, bert]\n", ("rankers", "'bert'", "conv_knrm")),
    ("unknown key", "train: {lr_rate: 0.1}\n", ("train.lr_rate", "lr")),
    ("invalid YAML", "grid: {sparsities: [0.5\n", ("not valid YAML",)),
]


@pytest.mark.parametrize("case,text,words", OVERLAY_CASES, ids=[c[0] for c in OVERLAY_CASES])
def test_a_bad_overlay_is_refused_and_params_are_left_unchanged(tmp_path, capsys, case, text, words):
    from irprune.overlay import main

    params = _params_file(tmp_path)
    before = params.read_bytes()
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(text)
    assert main([str(overlay), "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "was left unchanged" in err and str(overlay) in err, err
    for word in words:
        assert word in err, f"{case}: {word!r} not in {err}"
    assert params.read_bytes() == before


def test_a_missing_overlay_names_the_file(tmp_path, capsys):
    from irprune.overlay import main

    params = _params_file(tmp_path)
    assert main([str(tmp_path / "nope.yaml"), "--params", str(params)]) == 2
    assert "nope.yaml not found" in capsys.readouterr().err


# --- collection files and qrels, through the data stage's loader ------------------------------------------------

GOOD = {"collection.tsv": "d1\tthe quick brown fox\nd2\tkernel pooling for ranking\nd3\tpruning bert\n",
        "queries.tsv": "q1\tquick fox\nq2\tpruning\n",
        "qrels.tsv": "q1 0 d1 2\nq2 0 d3 1\n"}


def _local(tmp_path: Path, **files: str) -> Any:
    from irprune.config import from_mapping
    from irprune.data.config import DataConfig

    folder = tmp_path / "coll"
    folder.mkdir(exist_ok=True)
    for name, text in {**GOOD, **files}.items():
        if text is None:
            (folder / name).unlink(missing_ok=True)
        else:
            (folder / name).write_text(text)
    return from_mapping(DataConfig, {"source": "msmarco", "local": {
        "path": str(folder), "collection": "collection.tsv",
        "test": {"queries": "queries.tsv", "qrels": "qrels.tsv"}}})


COLLECTION_CASES = [
    ("collection line without a tab", {"collection.tsv": "d1\tok\nd2 no tab\n"}, "collection.tsv:2"),
    ("collection duplicate id", {"collection.tsv": "d1\tok\nd1\tagain\n"}, "collection.tsv:2"),
    ("qrels non-integer label", {"qrels.tsv": "q1 0 d1 2\nq2 0 d3 high\n"}, "qrels.tsv:2"),
    ("qrels too few columns", {"qrels.tsv": "q1 0 d1 2\nq2 d3\n"}, "qrels.tsv:2"),
    ("qrels unknown document", {"qrels.tsv": "q1 0 d1 2\nq2 0 d9 1\n"}, "qrels.tsv:2"),
    ("queries file missing", {"queries.tsv": None}, "queries.tsv"),
]


@pytest.mark.parametrize("case,files,where", COLLECTION_CASES, ids=[c[0] for c in COLLECTION_CASES])
def test_bad_collection_files_name_the_file_line_and_fix(tmp_path, case, files, where):
    from irprune.data.load import load_dataset

    cfg = _local(tmp_path, **files)
    with pytest.raises(DataFormatError) as e:
        load_dataset(cfg.data if hasattr(cfg, "data") else cfg)
    msg = str(e.value)
    assert where in msg and ("fix" in msg or "not found" in msg), msg


# --- checkpoints --------------------------------------------------------------------------------------------------

def _truncate(path: Path, keep: int = 100) -> None:
    path.write_bytes(path.read_bytes()[:keep])


@pytest.fixture(scope="module")
def ranker_checkpoint(tmp_path_factory) -> Path:
    from irprune.models import build_model, save_checkpoint
    from irprune.text import Vocab

    vocab = Vocab.build(["the quick brown fox", "kernel pooling for ranking"])
    return save_checkpoint(build_model("conv_knrm", None, vocab), tmp_path_factory.mktemp("ck") / "conv_knrm")


@pytest.mark.parametrize("damage,words", [
    ("truncate weights", ("model.safetensors", "truncated or corrupt", "re-run")),
    ("delete weights", ("model.safetensors", "missing", "re-run")),
    ("corrupt metadata", ("not valid JSON", "re-run")),
], ids=["truncated weights", "missing weights", "corrupt metadata"])
def test_a_damaged_ranker_checkpoint_names_the_file_and_the_fix(tmp_path, ranker_checkpoint, damage, words):
    from irprune.models import load_checkpoint

    ck = tmp_path / "ck"
    shutil.copytree(ranker_checkpoint, ck)
    weights = next(ck.glob("*.safetensors"))
    if damage == "truncate weights":
        _truncate(weights)
    elif damage == "delete weights":
        weights.unlink()
    else:
        meta = next(p for p in ck.glob("*.json") if "architecture" in p.read_text())
        meta.write_text("{not json")
        words = (meta.name, "corrupt", "re-run")
    with pytest.raises(DataFormatError) as e:
        load_checkpoint(ck)
    msg = str(e.value)
    assert str(ck) in msg and all(w in msg for w in words), msg


def _task_dense(tmp_path: Path) -> tuple[Path, dict]:
    import torch
    from safetensors.torch import save_file

    ref = {"emb.weight": torch.zeros(4, 3), "fc.weight": torch.zeros(2, 3)}
    path = tmp_path / "models" / "tasks" / "classification-embedding_bag-seed0.safetensors"
    path.parent.mkdir(parents=True)
    save_file(ref, str(path))
    return path, ref


def test_a_truncated_task_checkpoint_names_the_file_and_the_fix(tmp_path):
    from irprune.pipeline.task_stage import _load_dense

    path, ref = _task_dense(tmp_path)
    _truncate(path, 40)
    with pytest.raises(DataFormatError) as e:
        _load_dense(path, ref, stage="task_dense@classification-embedding_bag-0")
    msg = str(e.value)
    assert str(path) in msg and "truncated or corrupt" in msg and "dvc repro task_dense@" in msg, msg


def test_task_weights_of_other_params_name_the_file_and_the_fix(tmp_path):
    import torch

    from irprune.pipeline.task_stage import _load_dense

    path, ref = _task_dense(tmp_path)
    with pytest.raises(DataFormatError) as e:
        _load_dense(path, {**ref, "fc.weight": torch.zeros(5, 3)})
    msg = str(e.value)
    assert str(path) in msg and "fc.weight" in msg and "re-run the dense cell" in msg, msg
    assert _load_dense(path, ref).keys() == ref.keys()


def test_a_missing_task_checkpoint_says_which_stage_writes_it(tmp_path):
    from irprune.pipeline.task_stage import _load_dense

    with pytest.raises(DataFormatError, match="dense cell first"):
        _load_dense(tmp_path / "none.safetensors")


def test_a_truncated_mask_file_names_the_file(tmp_path):
    import torch

    from irprune.pruning import Mask

    path = tmp_path / "mask.safetensors"
    Mask({"w": torch.ones(4, 4, dtype=torch.bool)}).save(path)
    _truncate(path, 30)
    with pytest.raises(DataFormatError) as e:
        Mask.load(path)
    assert str(path) in str(e.value)


def test_a_corrupt_vocabulary_names_the_file_and_the_fix(tmp_path):
    from irprune.text import Vocab

    path = tmp_path / "vocab.json"
    path.write_text('{"format": ')
    with pytest.raises(DataFormatError) as e:
        Vocab.load(path)
    assert str(path) in str(e.value) and "re-run" in str(e.value)


def test_word_vectors_of_another_dimension_name_the_line_and_the_fix(tmp_path):
    import torch

    from irprune.text import Vocab
    from irprune.text.vocab import load_word_vectors

    vocab = Vocab.build(["quick fox"])
    path = tmp_path / "vectors.txt"
    path.write_text("quick 0.1 0.2 0.3\n")
    with pytest.raises(DataFormatError) as e:
        load_word_vectors(path, vocab, torch.zeros(len(vocab), 4))
    assert f"{path}:1" in str(e.value) and "embedding_dim" in str(e.value)


def test_a_damaged_dsi_checkpoint_names_the_file(tmp_path):
    from irprune.dsi.model import load_dsi

    (tmp_path / "dsi").mkdir()
    with pytest.raises(DataFormatError) as e:
        load_dsi(tmp_path / "dsi")
    assert str(tmp_path / "dsi") in str(e.value) and "re-run" in str(e.value)


def test_every_project_error_is_an_irprune_error():
    assert issubclass(ConfigError, IRPruneError) and issubclass(DataFormatError, IRPruneError)


# --- DVC: a typo stops at the check; nothing finished is lost or recomputed ----------------------------------------

def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dvc(cwd: Path, *args: str, ok: bool = True) -> str:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONPATH=str(cwd / "lib"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == ok, f"dvc {' '.join(args)} (rc {proc.returncode}):\n{out}"
    return out


@pytest.mark.slow
def test_a_typo_stops_dvc_at_the_check_and_the_fix_recomputes_nothing(tmp_path):
    from tiny_project import copy_project

    copy_project(tmp_path)
    from irprune.overlay import overlay_text

    text = overlay_text((tmp_path / "params.yaml").read_text(), {"data": {"synthetic": {
        "n_docs": 300, "n_train_queries": 40, "n_dev_queries": 20, "n_test_queries": 20}}})
    (tmp_path / "params.yaml").write_text(text)
    _dvc(tmp_path, "config", "core.no_scm", "true")
    _dvc(tmp_path, "repro", "data")
    finished = [tmp_path / "data" / "card.json", tmp_path / "data" / "dataset" / "collection.tsv",
                tmp_path / "logs" / "data.ipynb"]
    before = {p: _sha(p) for p in finished}
    for typo, key in ((text.replace("  on_error: raise", "  on_eror: raise"), "data.on_eror"),
                      (text.replace("    sparsities:\n    - 0.8\n    - 0.9\n    seeds:\n    - 1\n    - 2\nprune:",
                                    "    sparsities:\n    - 0.8\n    - 1.3\n    seeds:\n    - 1\n    - 2\nprune:"),
                       "grid.repeats.sparsities"),
                      (text.replace("rankers:\n- monobert\n", "rankers:\n- monobrt\n"), "monobrt")):
        assert typo != text, key
        (tmp_path / "params.yaml").write_text(typo)
        msg = _dvc(tmp_path, "repro", "data", ok=False)
        assert key in msg and "Running stage 'data'" not in msg, msg
        assert {p: _sha(p) for p in finished} == before, f"{key}: a finished output changed or vanished"
    (tmp_path / "params.yaml").write_text(text)
    msg = _dvc(tmp_path, "repro", "data")
    assert "Running stage 'data'" not in msg, msg
    assert {p: _sha(p) for p in finished} == before
