"""Validate all of ``params.yaml`` at once: ``python -m irprune.validate [--params params.yaml] [--stamp PATH]``.

The first DVC stage (``check``) runs this, and every other stage depends on its stamp file, so a bad value stops
``dvc repro`` before DVC reaches (and deletes the outputs of) any stage that reads it.  The overlay tool
(:mod:`irprune.overlay`) runs the same check before it writes ``params.yaml``.

Checked: every section's config (each stage's typed config, for every ranker and every grid model), unknown
top-level sections, ``rankers`` (registered models with a ``models.<name>`` section), and the grids that only DVC's
templating reads (``grid``, ``task_grid``, ``dsi_grid``, ``dense_grid``): registered models/methods/pairs, sparsities in range,
integer seeds, no duplicates; in ``grid``, every block's seeds among ``grid.train_seeds`` (a cell prunes the dense
model of its seed) and no cell in two blocks (DVC would refuse the overlapping outputs).  Every problem is reported
(not only the first), each naming the key and the fix.

The stamp's content never changes, so re-running the check (whenever ``params.yaml`` or the code changes) does not
make any other stage out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterable

from . import paths
from .config import load_params
from .errors import ConfigError, IRPruneError

# Sections read only by dvc.yaml's templating (foreach / matrix axes), besides those the stage configs read.
TEMPLATING_SECTIONS = ("rankers", "grid", "task_grid", "dsi_grid", "dense_grid")
GRID_BLOCKS = ("curve", "controls", "repeats")     # dvc.yaml: prune, prune_controls, prune_repeats
BLOCK_KEYS = ("models", "methods", "sparsities", "seeds")
GRID_KEYS = {"grid": ("train_seeds",) + GRID_BLOCKS,
             "task_grid": ("pairs", "methods", "sparsities", "seeds"),
             "dsi_grid": ("methods", "sparsities", "seeds"),
             "dense_grid": ("methods", "sparsities", "seeds")}
STAMP = {"params": "params.yaml", "valid": True}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _list(params: dict, section: str, key: str, problems: list[str], allow_empty: bool = False) -> list | None:
    """``params[section][key]`` (``section`` may be dotted: ``grid.curve``) when it is a list, else None."""
    node: Any = params
    for part in section.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, list) or not (value or allow_empty):
        kind = "a list" if allow_empty else "a non-empty list"
        problems.append(f"params.yaml: {section}.{key} = {value!r} must be {kind} "
                        f"(e.g. {section}.{key}: [...]); fix it in params.yaml")
        return None
    dup = sorted({str(v) for v in value if value.count(v) > 1})
    if dup:
        problems.append(f"params.yaml: {section}.{key} lists {', '.join(dup)} more than once; remove the duplicates")
    return value


def _check_names(section: str, key: str, values: Iterable[Any], known: list[str], problems: list[str],
                 what: str) -> None:
    for v in values:
        if v not in known:
            problems.append(f"params.yaml: {section}.{key} has unknown {what} {v!r}; known: {', '.join(known)} "
                            f"(fix the spelling in params.yaml)")


def _check_sparsities(section: str, values: list, problems: list[str], low_open: bool) -> None:
    for v in values:
        ok = _is_number(v) and (0.0 < v < 1.0 if low_open else 0.0 <= v < 1.0)
        if not ok:
            rng = "(0, 1)" if low_open else "[0, 1)"
            problems.append(f"params.yaml: {section}.sparsities has {v!r}; a sparsity is the fraction of prunable "
                            f"weights removed, a number in {rng} (e.g. 0.9)")


def _check_seeds(section: str, values: list, problems: list[str], key: str = "seeds") -> None:
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            problems.append(f"params.yaml: {section}.{key} has {v!r}; seeds are integers >= 0 (e.g. [0, 1, 2])")


def _grid_shape(params: dict, section: str, problems: list[str]) -> bool:
    if section not in params:
        problems.append(f"params.yaml: section {section} is missing; dvc.yaml's matrix stages read "
                        f"{section}.{{{', '.join(GRID_KEYS[section])}}} (copy it from the repository's params.yaml)")
        return False
    grid = params[section]
    if not isinstance(grid, dict):
        problems.append(f"params.yaml: {section} = {grid!r} must be a mapping with keys "
                        f"{', '.join(GRID_KEYS[section])}")
        return False
    unknown = sorted(set(grid) - set(GRID_KEYS[section]))
    if unknown:
        problems.append(f"params.yaml: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; allowed "
                        f"keys under {section}: {', '.join(GRID_KEYS[section])}")
    return True


def _check_rankers_and_grid(params: dict, problems: list[str]) -> list[str]:
    """``rankers`` and ``grid``; returns the valid ranker names."""
    from .models.registry import MODELS

    rankers = params.get("rankers")
    valid: list[str] = []
    if not isinstance(rankers, list) or not rankers or not all(isinstance(r, str) for r in rankers):
        problems.append(f"params.yaml: rankers = {rankers!r} must be a non-empty list of model names; known: "
                        f"{', '.join(MODELS.names())}")
    else:
        for r in rankers:
            if r not in MODELS:
                problems.append(f"params.yaml: rankers has unknown model {r!r}; known: {', '.join(MODELS.names())} "
                                "(fix the spelling in params.yaml)")
        models = params.get("models") if isinstance(params.get("models"), dict) else {}
        for r in rankers:
            if r in MODELS and r not in models:
                problems.append(f"params.yaml: rankers lists {r!r} but models.{r} is missing; add a models.{r} "
                                f"section (at least `preset: small`) or remove {r!r} from rankers")
        valid = [r for r in rankers if r in MODELS]
    if _grid_shape(params, "grid", problems):
        _check_grid(params, rankers if isinstance(rankers, list) else [], problems)
    return valid


def _check_grid(params: dict, rankers: list, problems: list[str]) -> None:
    """``grid``: ``train_seeds`` and the blocks ``curve`` / ``controls`` / ``repeats`` (one DVC matrix each)."""
    from .prune_cell import BERT_ONLY, RANKING_METHODS

    train_seeds = _list(params, "grid", "train_seeds", problems)
    if train_seeds is not None:
        _check_seeds("grid", train_seeds, problems, key="train_seeds")
    owner: dict[tuple, str] = {}
    clashes: dict[tuple[str, str], list[str]] = {}
    for block in GRID_BLOCKS:
        section = f"grid.{block}"
        value = params["grid"].get(block)
        if not isinstance(value, dict):
            problems.append(f"params.yaml: {section} = {value!r} must be a mapping with keys {', '.join(BLOCK_KEYS)} "
                            f"(dvc.yaml's matrix reads them; empty lists turn the block off)")
            continue
        unknown = sorted(set(value) - set(BLOCK_KEYS))
        if unknown:
            problems.append(f"params.yaml: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; allowed "
                            f"keys under {section}: {', '.join(BLOCK_KEYS)}")
        models = _list(params, section, "models", problems, allow_empty=True)
        for m in models or []:
            if m not in rankers:
                problems.append(f"params.yaml: {section}.models has {m!r}, which is not trained (not in rankers: "
                                f"{rankers}); add it to rankers or remove it from {section}.models")
        methods, sparsities, seeds = _check_axes(params, section, RANKING_METHODS, "pruning method", problems,
                                                 allow_empty=True)
        others = [m for m in models or [] if m != "monobert"]
        for bert_only in BERT_ONLY:
            if bert_only in (methods or []) and others:
                problems.append(f"params.yaml: {section}.methods has {bert_only!r} (attention heads: monoBERT only) "
                                f"but {section}.models also has {', '.join(others)}; use {bert_only!r} in a block of "
                                "monobert only")
        if train_seeds is not None:
            for v in seeds or []:
                if v not in train_seeds:
                    problems.append(f"params.yaml: {section}.seeds has {v!r}, which is not in grid.train_seeds "
                                    f"{train_seeds}: a cell at seed {v} prunes the dense model of training seed {v}; "
                                    f"add {v} to grid.train_seeds or remove it from {section}.seeds")
        if None in (models, methods, sparsities, seeds):
            continue
        for cell in ((m, me, sp, se) for m in models for me in methods for sp in sparsities for se in seeds):
            if cell in owner and owner[cell] != block:
                clashes.setdefault((owner[cell], block), []).append("-".join(map(str, cell)))
            owner.setdefault(cell, block)
    for (a, b), cells in clashes.items():
        shown = ", ".join(cells[:4]) + (f" and {len(cells) - 4} more" if len(cells) > 4 else "")
        problems.append(f"params.yaml: grid.{a} and grid.{b} both hold the cell(s) {shown} (DVC refuses two stages "
                        f"with the same outputs); remove them from one block (e.g. a seed or a sparsity of grid.{b})")


def _check_task_grid(params: dict, problems: list[str]) -> None:
    from .config import from_mapping
    from .pipeline.task_stage import TaskStage, split_pair
    from .tasks import TASK_METHODS

    if not _grid_shape(params, "task_grid", problems):
        return
    pairs = _list(params, "task_grid", "pairs", problems)
    if pairs is not None:
        try:
            cfg = from_mapping(TaskStage, {"tasks": params.get("tasks") or {}})
        except IRPruneError:
            cfg = None                      # reported by the task stages' own check
        for pair in pairs:
            try:
                task, model = split_pair(pair)
            except IRPruneError as e:
                problems.append(f"params.yaml: task_grid.pairs: {e}")
                continue
            if cfg is not None and model not in getattr(cfg.tasks, task).models:
                problems.append(f"params.yaml: task_grid.pairs has {pair!r} but tasks.{task}.models does not list "
                                f"{model!r}; add it there or remove the pair")
    _check_axes(params, "task_grid", [m for m in TASK_METHODS if m != "dense"], "pruning method", problems)


def _check_axes(params: dict, section: str, methods_known: Any, what: str, problems: list[str],
                allow_empty: bool = False) -> tuple[list | None, list | None, list | None]:
    """The ``methods`` / ``sparsities`` / ``seeds`` axes of a pruning grid section (``section`` may be dotted:
    ``grid.curve``; sparsities in (0, 1)); returns the three lists (None where one is not a list)."""
    methods = _list(params, section, "methods", problems, allow_empty)
    if methods is not None:
        _check_names(section, "methods", methods, methods_known, problems, what)
    sparsities = _list(params, section, "sparsities", problems, allow_empty)
    if sparsities is not None:
        _check_sparsities(section, sparsities, problems, low_open=True)
    seeds = _list(params, section, "seeds", problems, allow_empty)
    if seeds is not None:
        _check_seeds(section, seeds, problems)
    return methods, sparsities, seeds


def _check_dsi_grid(params: dict, problems: list[str]) -> None:
    from .dsi.prune import DSI_METHODS

    if not _grid_shape(params, "dsi_grid", problems):
        return
    _check_axes(params, "dsi_grid", DSI_METHODS, "DSI pruning method", problems)


def _check_dense_grid(params: dict, problems: list[str]) -> None:
    from .dense.prune import QUERY_ENCODER_METHODS

    if not _grid_shape(params, "dense_grid", problems):
        return
    _check_axes(params, "dense_grid", QUERY_ENCODER_METHODS, "dense pruning method", problems)


def _check_local_path(params: dict, root: Path, problems: list[str]) -> None:
    """``data.local.path`` is the data stage's DVC dependency: it must name an existing folder or file."""
    data = params.get("data") if isinstance(params.get("data"), dict) else {}
    local = data.get("local") if isinstance(data.get("local"), dict) else {}
    path = local.get("path")
    if not isinstance(path, str) or not path:
        problems.append(f"params.yaml: data.local.path = {path!r}; dvc.yaml's data stage depends on this folder: set "
                        "it to the local collection's folder, or to collections (the default, for other sources)")
    elif not (root / path).exists():
        problems.append(f"params.yaml: data.local.path = {path!r} does not exist (relative to {root}); put the "
                        "collection there or fix the path")


def params_problems(params_path: str | Path = "params.yaml") -> list[str]:
    """Every problem of the params file ``params_path`` (empty when it is valid), each naming the key and the fix."""
    from .stages import GRID_BLOCKS as STAGE_BLOCKS, STAGES, is_foreach, is_matrix, load_stage, stage_sections

    problems: list[str] = []
    params = load_params(params_path)            # a missing or malformed file raises at once
    known = {s.split(".")[0] for name in STAGES for s in stage_sections(name)} | set(TEMPLATING_SECTIONS)
    for section in params:
        if section not in known:
            problems.append(f"params.yaml: unknown section {section!r}; known sections: {', '.join(sorted(known))} "
                            f"(fix the spelling or remove it)")
    _check_local_path(params, Path(params_path).resolve().parent, problems)
    rankers = _check_rankers_and_grid(params, problems)
    _check_task_grid(params, problems)
    _check_dsi_grid(params, problems)
    _check_dense_grid(params, problems)
    grid = params.get("grid") if isinstance(params.get("grid"), dict) else {}

    def block_models(block: str) -> list[str]:
        b = grid.get(block) if isinstance(grid.get(block), dict) else {}
        return [m for m in (b.get("models") if isinstance(b.get("models"), list) else []) if m in rankers]

    for stage in STAGES:
        if is_foreach(stage):
            items: list[Any] = list(rankers)
        elif is_matrix(stage):           # train: every ranker; a pruning matrix: its block's models
            models = block_models(STAGE_BLOCKS[stage]) if stage in STAGE_BLOCKS else list(rankers)
            items = [{"model": m} for m in models]
        else:
            items = [None]
        for item in items:
            try:
                load_stage(stage, params_path, item=item)
            except IRPruneError as e:
                problems.append(str(e))
    out: list[str] = []
    for p in problems:                            # one message per problem, in the order found
        if p not in out:
            out.append(p)
    return out


def validate_params(params_path: str | Path = "params.yaml") -> dict[str, Any]:
    """The params of ``params_path`` if all of them are valid; else :class:`ConfigError` listing every problem."""
    problems = params_problems(params_path)
    if problems:
        raise ConfigError(f"{params_path} has {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
    return load_params(params_path)


def write_stamp(path: Path = paths.PARAMS_CHECK) -> None:
    from .io import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, STAMP)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m irprune.validate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--stamp", type=Path, default=None,
                    help=f"write this stamp file when the params are valid (the DVC stage: {paths.PARAMS_CHECK})")
    args = ap.parse_args(argv)
    try:
        validate_params(args.params)
    except ConfigError as e:
        print(f"error: {e}\nNothing was run and no output was deleted; fix params.yaml and re-run.", file=sys.stderr)
        return 2
    if args.stamp is not None:
        write_stamp(args.stamp)
    print(f"{args.params}: valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
