"""dvc.yaml's deps cover every module a stage runs: the transitive closure of ``irprune`` imports from the stage's
notebook, its config module and its command, so editing any of them re-runs the stage (and nothing drifts).

Imports are read from the source (``ast``), function-level ones included, and every package ``__init__`` on the way;
a directory dep covers every module under it.  Deps on ``lib/`` that the stage never imports are reported too.
"""

from __future__ import annotations

import ast
import json
import shlex
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from irprune.stages import STAGES

LIB = ROOT / "lib"
CHECK = "check"


def _module_file(name: str) -> Path | None:
    base = LIB / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """The ``irprune`` modules that ``source`` (of ``module``) imports, anywhere in the file."""
    package = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "irprune"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != "irprune":
                continue
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names if _module_file(f"{target}.{a.name}")}
    return out


@lru_cache(maxsize=None)
def _direct(module: str) -> frozenset[str]:
    path = _module_file(module)
    if path is None:
        return frozenset()
    return frozenset(_imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"))


def closure(roots: set[str]) -> set[str]:
    """Every ``irprune`` module imported, transitively, from ``roots`` (with each package's ``__init__``)."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        mod = stack.pop()
        if mod in seen or _module_file(mod) is None:
            continue
        seen.add(mod)
        parts = mod.split(".")
        stack.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        stack.extend(_direct(mod))
    return seen


def _notebook_imports(nb: Path) -> set[str]:
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return _imports_of(source, "__main__", False)


def _stages() -> dict[str, dict]:
    raw = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: st["do"] if "foreach" in st else st for name, st in raw.items()}


def stage_roots(name: str, stage: dict) -> set[str]:
    """The modules a stage starts from: its command's module, and for a notebook stage the notebook's imports and
    the stage's config module (loaded lazily by irprune.stages.load_stage)."""
    argv = shlex.split(stage["cmd"])
    roots = {argv[argv.index("-m") + 1]} if "-m" in argv else set()
    if "irprune.notebook" in roots:
        roots |= _notebook_imports(ROOT / "notebooks" / f"{argv[argv.index('irprune.notebook') + 1]}.ipynb")
        roots.add(STAGES.module(name))
    return roots


def suggested_lib_deps(files: list[str]) -> list[str]:
    """A short dep list covering ``files``: a subpackage folder when the stage imports at least half of its modules
    (the stage-specific ``pipeline`` and ``stage_configs`` modules always file by file), else the files."""
    out: set[str] = set()
    for f in files:
        parts = Path(f).parts
        if len(parts) > 3 and parts[2] not in ("pipeline", "stage_configs"):
            folder = "/".join(parts[:3])
            mods = [str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py")]
            if 2 * sum(m in files for m in mods) >= len(mods):
                out.add(folder)
                continue
        out.add(f)
    return sorted(out, key=lambda d: (d.count("/"), d))


def _covered(rel: str, deps: list[str]) -> bool:
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


STAGE_NAMES = sorted(_stages())


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_deps_cover_the_stage_import_closure(name):
    stage = _stages()[name]
    deps = [str(d) for d in stage.get("deps", [])]
    mods = closure(stage_roots(name, stage))
    assert mods, f"{name}: no irprune module found from its command {stage['cmd']!r}"
    files = sorted(str(_module_file(m).relative_to(ROOT)) for m in mods)
    missing = [f for f in files if not _covered(f, deps)]
    assert not missing, (f"dvc.yaml stage {name!r} imports modules that are not among its deps (add them, or their "
                         f"folder, to its deps):\n  " + "\n  ".join(missing)
                         + "\na short list that covers them all:\n  - " + "\n  - ".join(suggested_lib_deps(files)))
    stale = [d for d in deps if d.startswith("lib/") and not any(_covered(f, [d]) for f in files)]
    assert not stale, f"dvc.yaml stage {name!r} lists deps it never imports: {stale}"


def test_closure_follows_relative_and_function_level_imports():
    mods = closure({"irprune.pipeline.bm25_stage"})
    assert {"irprune", "irprune.pipeline", "irprune.bm25", "irprune.evaluation", "irprune.io"} <= mods
    assert "irprune.pipeline.train_stage" not in mods
    assert CHECK in _stages() and "lib/irprune" in _stages()[CHECK]["deps"]
