"""Atomic writes: a writer SIGKILLed mid-write leaves the old target (or none) and a temporary sibling, which the
next write of the same target removes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from irprune.io import atomic_dir, atomic_write_json, sweep_stale_temporaries

from conftest import ROOT


def _killed_writer(code: str) -> None:
    """Run ``code`` in a child that SIGKILLs itself at ``die()``."""
    prelude = "import os, signal\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT / "lib")}, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_file_write_killed_midway_leaves_the_old_file_and_the_next_write_sweeps_its_temporary(tmp_path: Path):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"v": 1})
    _killed_writer(f"""
        from irprune.io import atomic_open
        with atomic_open({str(target)!r}) as fh:
            fh.write('{{"v": 2, "half')
            fh.flush()
            die()
    """)
    assert json.loads(target.read_text()) == {"v": 1}
    assert len(_hidden(tmp_path)) == 1 and _hidden(tmp_path)[0].startswith(".metrics.json.")
    atomic_write_json(target, {"v": 3})
    assert json.loads(target.read_text()) == {"v": 3} and _hidden(tmp_path) == []


def test_a_directory_write_killed_midway_or_while_replacing_is_swept_by_the_next_write(tmp_path: Path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("old")
    _killed_writer(f"""
        from irprune.io import atomic_dir
        with atomic_dir({str(target)!r}) as tmp:
            (tmp / "weights").write_text("ne")
            die()
    """)
    # killed between the two renames of replace_dir: the previous directory renamed away, the new one not in place
    _killed_writer(f"""
        import os
        from pathlib import Path
        target = Path({str(target)!r})
        os.replace(target, target.with_name(f".model.old-{{os.getpid()}}"))
        die()
    """)
    assert not target.exists() and len(_hidden(tmp_path)) == 2
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "new" and _hidden(tmp_path) == []


def test_the_temporaries_of_live_writers_and_of_other_targets_stay(tmp_path: Path):
    live = tmp_path / ".runs.1.abcdefgh.tmp"              # pid 1 is always alive
    other = tmp_path / ".runs.1.999999999.abcdefgh.tmp"    # a temporary of the target runs.1
    live.write_text("")
    other.write_text("")
    assert sweep_stale_temporaries(tmp_path / "runs") == []
    assert live.exists() and other.exists()


def test_clearing_a_finished_trainers_state_removes_a_half_written_one_beside_it(tmp_path: Path):
    from test_training import _setup

    from irprune.training import Trainer

    model, pool, cfg = _setup(epochs=1)
    state = tmp_path / "state"
    stale = tmp_path / ".state.999999999.x1y2z3w4.tmp"   # a save_state killed before its rename
    stale.mkdir()
    (stale / "state.safetensors").write_bytes(b"\0" * 8)
    trainer = Trainer(model, cfg, pool, state_dir=state)
    trainer.fit()
    trainer.clear_state()
    assert list(tmp_path.iterdir()) == []


def test_a_safetensors_header_is_rewritten_with_sorted_metadata_and_the_same_tensors(tmp_path: Path):
    import struct

    import torch
    from safetensors.torch import load_file, save

    from irprune.io import canonicalize_safetensors

    tensors = {"b": torch.arange(3, dtype=torch.float32), "a": torch.ones(2, 2, dtype=torch.int64)}
    files = []
    for i, meta in enumerate(({"format": "x", "architecture": "y"}, {"architecture": "y", "format": "x"})):
        raw = bytearray(save(tensors))               # a header with the metadata in the order given
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        text = json.dumps({"__metadata__": meta, **header}, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        (path := tmp_path / f"{i}.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])
        canonicalize_safetensors(path)
        files.append(path)
    assert files[0].read_bytes() == files[1].read_bytes()
    back = load_file(str(files[0]))
    assert all(torch.equal(back[k], v) for k, v in tensors.items())


def test_a_ranker_checkpoint_header_has_its_metadata_sorted(tmp_path: Path):
    import struct

    from test_training import _setup

    from irprune.models import save_checkpoint

    model = _setup()[0]
    raw = (save_checkpoint(model, tmp_path / "ckpt") / "model.safetensors").read_bytes()
    meta = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])["__metadata__"]
    assert list(meta) == sorted(meta) and meta["architecture"] == "conv_knrm"
