"""The package metadata lists what the code needs: `pip install -e .` alone gives a package that imports."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _base_in() -> tuple[set[str], set[str]]:
    """requirements/base.in split into run-time names and those after the ``# tests`` comment."""
    runtime: set[str] = set()
    tests: set[str] = set()
    target = runtime
    for line in (ROOT / "requirements" / "base.in").read_text().splitlines():
        if line.strip().lower().startswith("# tests"):
            target = tests
        elif line.strip() and not line.startswith("#"):
            target.add(_name(line))
    return runtime, tests


def test_pyproject_declares_every_runtime_dependency_of_base_in():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs}
    runtime, tests = _base_in()
    assert "torch" in declared                      # installed by the Makefile, still a requirement of the package
    assert runtime - {"jupyterlab"} <= declared, runtime - declared
    assert tests | {"jupyterlab"} <= extras | declared
    locked = {_name(line) for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    assert declared - {"torch"} <= locked, "every declared dependency is pinned in requirements/lock.txt"
