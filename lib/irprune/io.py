"""Atomic file output: write to a temporary file in the same folder, then rename over the target.

A killed process therefore leaves either the old file or the new one, never half of one.  Its temporary sibling
(``.<name>.<pid>.<random>.tmp``, or ``.<name>.old-<pid>`` while a directory is being replaced) may survive the
kill; the next write of the same target removes every such leftover whose process is gone, so a re-run leaves
no partial files behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``path`` that a killed writer left (those of live processes stay);
    returns what was removed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    name = re.escape(path.name)
    # tempfile's random part is 8 characters of [a-z0-9_]: the temporaries of a target "a.1" never match "a"'s
    pattern = re.compile(rf"^\.{name}\.(\d+)\.[a-z0-9_]{{8}}\.tmp$|^\.{name}\.old-(\d+)$")
    removed = []
    for entry in path.parent.iterdir():
        m = pattern.match(entry.name)
        if m is None:
            continue
        pid = int(m.group(1) or m.group(2))
        if pid == os.getpid() or _alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def replace_dir(src: Path, dst: Path) -> None:
    """Move the finished directory ``src`` to ``dst``; an existing ``dst`` is renamed away first, then removed."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)


@contextlib.contextmanager
def atomic_dir(directory: str | os.PathLike) -> Iterator[Path]:
    """Write a directory atomically: yields an empty temporary sibling to fill, which replaces ``directory`` when
    the block succeeds (and is removed when it fails)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries(directory)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(directory), suffix=".tmp", dir=directory.parent))
    try:
        yield tmp
        replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO[Any]]:
    """Open ``path`` for writing through a temporary sibling that replaces it on success."""
    if "r" in mode or "a" in mode or "+" in mode:
        raise ValueError(f"atomic_open is for writing only, got mode {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding,
                       newline=None if binary else newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON (sorted keys, trailing newline) atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False) + "\n")


def canonicalize_safetensors(path: str | os.PathLike) -> None:
    """Rewrite a ``.safetensors`` file's header with its ``__metadata__`` keys sorted, in place.

    The safetensors library keeps the metadata in a hash map whose iteration order changes from process to
    process, so the same tensors and metadata written by two runs differ byte for byte (and so do the DVC hashes
    of their folders) as soon as there are two metadata keys.  Tensor entries and data are left as they are."""
    path = Path(path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.get("__metadata__")
    if not meta or list(meta) == sorted(meta):
        return
    header["__metadata__"] = dict(sorted(meta.items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)                   # the data starts 8-byte aligned, as the library writes it
    atomic_write_bytes(path, struct.pack("<Q", len(text)) + text + raw[8 + n:])


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
