"""Shared test fixtures.  Real collections live in ../shared/data beside the project (absent in a user's clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__import__("os").environ.get("IRPRUNE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of small real collections; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real collections not found at {SHARED_DATA} (set IRPRUNE_SHARED_DATA or place shared/ "
                    "beside the project); these tests read real files and cannot run without them")
    return SHARED_DATA


@pytest.fixture
def one_thread():
    """Tiny models train fastest (and deterministically) on one thread, above all on a busy machine; a module
    uses it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
