"""`dvc exp run -S key=value` and `python -m irprune.overlay` keep params.yaml's layout and every comment.

Both rewrite the file through a ruamel.yaml round trip (DVC: ``dvc.utils.hydra.apply_overrides``, which loads
params.yaml, replaces every list and scalar with the overridden plain values and dumps with
``dvc/utils/serialize/_yaml.py``'s settings).  That round trip is byte-identical only for the layout params.yaml's
header describes; the tests below run DVC's own code on the real file and pin which constructs it loses.
"""

from __future__ import annotations

import difflib
import functools
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytest.importorskip("hydra")          # dvc's -S goes through hydra's override parser (a dvc dependency)

PARAMS = ROOT / "params.yaml"
LAYOUT_HINT = ("params.yaml is not in the layout `dvc exp run -S` keeps (see its header): block lists with nothing "
               "after their last item, null as an empty value, flow mappings within 80 columns")


def dvc_set(path: Path, *overrides: str) -> str:
    """``dvc exp run -S OVERRIDE ...``'s rewrite of ``path`` (DVC's own function), returning the new text."""
    from dvc.utils.hydra import apply_overrides

    apply_overrides(str(path), list(overrides))
    return path.read_text(encoding="utf-8")


def _get(data, dotted: str):
    for key in dotted.split("."):
        data = data[key]
    return data


def _set(data, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data[key]
    data[last] = value


@functools.lru_cache(maxsize=4)
def _roundtrip(text: str):
    from irprune.overlay import load_roundtrip

    return load_roundtrip(text)


def _key_lines(text: str, dotted: str) -> range:
    """0-based lines of ``dotted``'s key and value in ``text``: its key line and, for a block list, the item lines."""
    node = _roundtrip(text)
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    line = node.lc.key(last)[0]
    value = node[last]
    block_list = isinstance(value, list) and not value.fa.flow_style()
    return range(line, line + 1 + (len(value) if block_list else 0))


def _block_lines(text: str, dotted: str) -> range:
    """0-based lines of ``dotted``'s whole block: its key line and every line indented under it (or its list)."""
    start = _key_lines(text, dotted).start
    lines = text.splitlines()
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines):
        line = lines[end]
        depth = len(line) - len(line.lstrip())
        if line.strip() and depth <= indent and not (depth == indent and line.lstrip().startswith("- ")):
            break
        end += 1
    return range(start, end)


def _changed_lines(old: str, new: str) -> set[int]:
    """0-based lines of ``old`` that ``new`` replaces or deletes (an insertion counts on the line it follows)."""
    changed: set[int] = set()
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(),
                                                     autojunk=False).get_opcodes():
        if tag != "equal":
            changed.update(range(i1, i2) if i2 > i1 else [i1 - 1])
    return changed


def _unified(old: str, new: str) -> str:
    return "\n".join(difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", lineterm="", n=1))


# key, its new value as typed after -S, the value as read back
OVERRIDES = [
    ("bm25.k1", "1.0", 1.0),
    ("models.monobert.train.lr", "2e-4", 2e-4),              # nested, inside a per-model block
    ("grid.curve.sparsities", "[0.5,0.8]", [0.5, 0.8]),            # a list: DVC rewrites every list it loads
    ("pretrain.max_passages", "500", 500),                   # null to a value (the section opens with a comment)
    ("dense.weights_dir", "/data/m", "/data/m"),             # '' to a path (short: see below)
    ("tasks.vision.lenet.channels", "[8,16]", [8, 16]),      # a list inside a flow mapping
    ("data.local.path", "../shared/data/x", "../shared/data/x"),
]


def _typed(value) -> str:
    """``value`` as a hydra override value (what a user types after ``-S key=``)."""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(_typed(v) for v in value) + "]"
    return str(value) if not isinstance(value, str) else f"'{value}'"


def test_params_yaml_is_a_fixed_point_of_dvcs_writer(tmp_path):
    """Setting a key to the value it already has leaves every byte: DVC rewrites every list and scalar of the file,
    so this checks the whole layout at once."""
    params = tmp_path / "params.yaml"
    shutil.copy(PARAMS, params)
    original = params.read_text(encoding="utf-8")
    k1 = yaml.safe_load(original)["bm25"]["k1"]
    after = dvc_set(params, f"bm25.k1={k1}")
    assert after == original, f"{LAYOUT_HINT}:\n{_unified(original, after)}"


@pytest.mark.parametrize("key,typed,value", OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_dvc_set_param_changes_only_that_value(tmp_path, key, typed, value):
    """`dvc exp run -S key=value` on params.yaml changes exactly the key's value lines; the values read back are the
    old ones with that key set; setting the old value back restores the file byte for byte."""
    params = tmp_path / "params.yaml"
    shutil.copy(PARAMS, params)
    original = params.read_text(encoding="utf-8")
    old_value = _get(yaml.safe_load(original), key)
    assert old_value != value, f"{key}: pick a value other than the current {old_value!r}"

    after = dvc_set(params, f"{key}={typed}")
    expected = yaml.safe_load(original)
    _set(expected, key, value)
    assert yaml.safe_load(after) == expected
    outside = _changed_lines(original, after) - set(_key_lines(original, key))
    assert not outside, f"{LAYOUT_HINT}; lines other than {key}'s changed:\n{_unified(original, after)}"
    assert _changed_lines(original, after), f"{key}: nothing changed"
    assert [ln for ln in original.splitlines() if ln.lstrip().startswith("#")] == \
        [ln for ln in after.splitlines() if ln.lstrip().startswith("#")]

    # A value longer than the room before its line's comment pushes the comment right, and it stays there when the
    # old value comes back; the values above fit.
    assert dvc_set(params, f"{key}={_typed(old_value)}") == original, f"{key}: setting it back left a difference"


def test_several_overrides_at_once_change_only_their_lines(tmp_path):
    """The three -S of the README's recipe in one run."""
    params = tmp_path / "params.yaml"
    shutil.copy(PARAMS, params)
    original = params.read_text(encoding="utf-8")
    after = dvc_set(params, *(f"{k}={t}" for k, t, _ in OVERRIDES[:3]))
    allowed = set().union(*(_key_lines(original, k) for k, _, _ in OVERRIDES[:3]))
    assert _changed_lines(original, after) and _changed_lines(original, after) <= allowed, _unified(original, after)


# --- the overlay tool writes what DVC writes ------------------------------------------------------------------

@pytest.mark.parametrize("key,typed,value", OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_the_overlay_tool_writes_the_bytes_dvc_writes(tmp_path, key, typed, value):
    from irprune.overlay import overlay_text

    params = tmp_path / "params.yaml"
    shutil.copy(PARAMS, params)
    original = params.read_text(encoding="utf-8")
    overlay: dict = {}
    _nest(overlay, key, value)
    assert overlay_text(original, overlay) == dvc_set(params, f"{key}={typed}")


def _nest(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def _leaves(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("overlay", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_every_overlay_keeps_every_comment_and_line_it_does_not_change(overlay):
    """`python -m irprune.overlay configs/X.yaml` changes only the lines of the keys the overlay sets (new keys
    are added at the end of their section), keeps every comment, and reads back as the deep merge."""
    from irprune.overlay import deep_merge, overlay_text, read_overlay

    original = PARAMS.read_text(encoding="utf-8")
    over = read_overlay(ROOT / "configs" / overlay)
    after = overlay_text(original, over)
    assert yaml.safe_load(after) == deep_merge(yaml.safe_load(original), over)
    assert [ln for ln in original.splitlines() if ln.lstrip().startswith("#")] == \
        [ln for ln in after.splitlines() if ln.lstrip().startswith("#")], _unified(original, after)
    data = yaml.safe_load(original)
    allowed: set[int] = set()
    for key, _ in _leaves(over):
        parts = key.split(".")
        for n in range(len(parts), 0, -1):          # the deepest key params.yaml has
            try:
                _get(data, ".".join(parts[:n]))
            except (KeyError, TypeError):
                continue
            dotted = ".".join(parts[:n])
            # a key params.yaml has: its own lines; a new key: the block of the section it is added to
            lines = _key_lines(original, dotted) if n == len(parts) else _block_lines(original, dotted)
            # items appended to a block list may be aligned by difflib as inserted after the line that follows it
            allowed.update(range(lines.start, lines.stop + (isinstance(_get(data, dotted), list))))
            break
    outside = _changed_lines(original, after) - allowed
    assert not outside, f"{overlay}: lines outside its keys changed:\n{_unified(original, after)}"


def test_the_overlay_command_keeps_the_comments_of_the_file_it_rewrites(tmp_path, capsys):
    from irprune.overlay import main

    params = tmp_path / "params.yaml"
    shutil.copy(PARAMS, params)
    (tmp_path / "collections").mkdir()
    original = params.read_text(encoding="utf-8")
    overlay = tmp_path / "k1.yaml"
    overlay.write_text("bm25: {k1: 1.2}\n")
    assert main([str(overlay), "--params", str(params)]) == 0, capsys.readouterr().err
    after = params.read_text(encoding="utf-8")
    assert _changed_lines(original, after) == set(_key_lines(original, "bm25.k1"))
    assert yaml.safe_load(after)["bm25"]["k1"] == 1.2


def test_a_params_file_ruamel_refuses_is_reported_and_left_unchanged(tmp_path, capsys):
    """PyYAML lets a duplicate key pass (the last one wins); the round trip, like `dvc exp run -S`, refuses it."""
    from irprune.overlay import main

    params = tmp_path / "params.yaml"
    text = PARAMS.read_text(encoding="utf-8").replace("\nbm25:\n", "\nbm25:\n  b: 0.5\n", 1)
    params.write_text(text)
    overlay = tmp_path / "k1.yaml"
    overlay.write_text("bm25: {k1: 1.2}\n")
    assert main([str(overlay), "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "duplicate key" in err and str(params) in err and "was left unchanged" in err
    assert params.read_text(encoding="utf-8") == text


# --- what DVC's writer loses: the reasons for params.yaml's layout ------------------------------------------------

LOST = {
    "flow list in a block mapping": ("a:\n  xs: [1, 2]\n  k: 0\n", "a:\n  xs:\n  - 1\n  - 2\n  k: 0\n"),
    "comment after a block list": ("a:\n  xs:\n  - 1\n  # about k\n  k: 0\n", "a:\n  xs:\n  - 1\n  k: 0\n"),
    "blank line and comment block after a block list": (
        "a:\n  k: 0\n  xs:\n  - 1\n\n# about b\nb: 1\n", "a:\n  k: 0\n  xs:\n  - 1\nb: 1\n"),
    "comment on a list item": ("a:\n  xs:\n  - 1   # one\n  k: 0\n", "a:\n  xs:\n  - 1\n  k: 0\n"),
    "indented block list": ("a:\n  xs:\n    - 1\n  k: 0\n", "a:\n  xs:\n  - 1\n  k: 0\n"),
    "null spelled out": ("a:\n  n: null   # c\n  k: 0\n", "a:\n  n:        # c\n  k: 0\n"),
    "flow mapping past 80 columns": (
        "a:\n  m: {aaaaaaaaaa: 1, bbbbbbbbbb: 2, cccccccccc: 3, dddddddddd: 4, eeeeeeeeee: 5, ff: 6}\n  k: 0\n",
        "a:\n  m: {aaaaaaaaaa: 1, bbbbbbbbbb: 2, cccccccccc: 3, dddddddddd: 4, eeeeeeeeee: 5, \n      ff: 6}\n  k: 0\n"),
    "flow mapping over two lines": ("a:\n  m: {x: 1,\n      y: 2}\n  k: 0\n", "a:\n  m: {x: 1, y: 2}\n  k: 0\n"),
    "double-quoted string": ("a:\n  s: \"x\"\n  k: 0\n", "a:\n  s: x\n  k: 0\n"),
}
KEPT = {
    "block list with the comment on its key": "a:\n  xs:       # about xs\n  - 1\n  - 2\n  k: 0\n",
    "comment first inside the section after a list": "x:\n- 1\nb:\n  # about b\n  k: 0\n",
    "comment and blank line after a scalar": "a:\n  k: 0\n\n# about b\nb:\n  j: 1\n",
    "comments between keys of a nested mapping": "a:\n  m:\n    j: 1\n  # about k\n  k: 0\n",
    "flow list inside a flow mapping": "a:\n  m: {xs: [1, 2], j: 1}\n  k: 0\n",
    "short flow mapping with a comment": "a:\n  m: {x: 1, y: 2}   # c\n  k: 0\n",
    "empty value, empty string, empty list": "a:\n  n:\n  s: ''\n  xs: []\n  k: 0\n",
    "floats as written": "a:\n  lr: 0.00005\n  w: 0.0005\n  f: 1.0\n  k: 0\n",
}


@pytest.mark.parametrize("name", list(LOST))
def test_dvcs_writer_rewrites_these_constructs(tmp_path, name):
    text, rewritten = LOST[name]
    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert dvc_set(path, "a.k=0") == rewritten


@pytest.mark.parametrize("name", list(KEPT))
def test_dvcs_writer_keeps_these_constructs(tmp_path, name):
    path = tmp_path / "p.yaml"
    path.write_text(KEPT[name])
    key = "a.k=0" if KEPT[name].startswith("a:") else "b.k=0"
    assert dvc_set(path, key) == KEPT[name]


def test_overlay_extends_merges_its_bases_first_and_refuses_a_loop(tmp_path):
    """An overlay's `extends` files merge first, in order, then its own keys; a loop is refused with the fix."""
    from irprune.errors import ConfigError
    from irprune.overlay import read_overlay

    (tmp_path / "a.yaml").write_text("train: {lr: 0.1, seed: 1}\ngrid: {train_seeds: [0]}\n")
    (tmp_path / "b.yaml").write_text("train: {lr: 0.2}\n")
    (tmp_path / "top.yaml").write_text("extends: [a.yaml, b.yaml]\ntrain: {seed: 3}\n")
    assert read_overlay(tmp_path / "top.yaml") == {"train": {"lr": 0.2, "seed": 3}, "grid": {"train_seeds": [0]}}
    (tmp_path / "x.yaml").write_text("extends: [y.yaml]\n")
    (tmp_path / "y.yaml").write_text("extends: x.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        read_overlay(tmp_path / "x.yaml")
    (tmp_path / "z.yaml").write_text("extends: {a: 1}\n")
    with pytest.raises(ConfigError, match="list of overlay files"):
        read_overlay(tmp_path / "z.yaml")


def test_real_collection_overlays_share_the_budget_overlay():
    """The three real-collection overlays extend configs/realtext-budget.yaml, so their grids are the same, and
    monoBERT's cells recover for the budget's steps while the kernel rankers keep prune.recovery_steps."""
    from irprune.config import from_mapping
    from irprune.overlay import deep_merge, read_overlay
    from irprune.prune_cell import PruneConfig

    budget = read_overlay(ROOT / "configs" / "realtext-budget.yaml")
    for name in ("cranfield.yaml", "npl.yaml", "msmarco-dl19-subset.yaml"):
        over = read_overlay(ROOT / "configs" / name)
        assert over["grid"] == budget["grid"], name
        merged = deep_merge(yaml.safe_load(PARAMS.read_text()), over)
        prune = from_mapping(PruneConfig, merged["prune"], prefix="prune")
        assert prune.for_model("monobert").recovery_steps == budget["prune"]["models"]["monobert"]["recovery_steps"]
        assert prune.for_model("conv_knrm").recovery_steps == merged["prune"]["recovery_steps"]
        assert merged["models"]["monobert"]["train"]["eval_at_start"] is True
