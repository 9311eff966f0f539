"""The repository's own text: no merge leftovers in tracked files, a README that stays a short user's page."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^(<{7}( .*)?|={7}|>{7}( .*)?)$", re.MULTILINE)


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / p for p in out.split("\0") if p]


def test_no_merge_conflict_markers_in_tracked_text() -> None:
    hits = []
    for path in _tracked():
        if path.suffix in {".png", ".pdf", ".safetensors", ".npz", ".gz"} or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}" for m in MARKER.finditer(text)]
    assert not hits, f"merge-conflict markers left in: {hits}"


def test_readme_is_under_15_kb() -> None:
    size = (ROOT / "README.md").stat().st_size
    assert size < 15_000, f"README.md is {size} bytes; move detail to docs/ (the README is a user's page)"
