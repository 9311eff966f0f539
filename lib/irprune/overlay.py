"""Apply a params overlay: ``python -m irprune.overlay configs/NAME.yaml [--params params.yaml]``.

An overlay is a partial ``params.yaml`` (for example the real MS MARCO subset instead of the synthetic default).
An overlay may start with ``extends: [other.yaml, ...]`` (paths relative to the overlay's folder): those are merged
first, in order, then the overlay's own keys.  It is deep-merged into ``params.yaml`` (mappings merge key by key;
lists and scalars replace), every stage's
config is validated against the result, and only then is ``params.yaml`` rewritten (atomically).  It is rewritten
the way ``dvc exp run -S`` rewrites it (ruamel.yaml round trip, DVC's settings), so every comment and line stays
and only the changed values differ; ``git diff params.yaml`` shows the change, ``git checkout params.yaml`` undoes it.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, load_params
from .errors import IRPruneError
from .io import atomic_write_text


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` merged into a copy of ``base``: nested mappings merge, everything else replaces."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def roundtrip_yaml() -> Any:
    """ruamel.yaml set up as DVC's params writer (``dvc/utils/serialize/_yaml.py``: round trip, block style)."""
    from ruamel.yaml import YAML

    yaml_rt = YAML()
    yaml_rt.default_flow_style = False
    return yaml_rt


def load_roundtrip(text: str) -> Any:
    """``text`` parsed keeping its comments, order and flow styles (a ruamel ``CommentedMap``)."""
    return roundtrip_yaml().load(text)


def dump_roundtrip(doc: Any) -> str:
    """``doc`` written back the way ``dvc exp run -S`` writes ``params.yaml``."""
    stream = io.StringIO()
    roundtrip_yaml().dump(doc, stream)
    return stream.getvalue()


def merge_into(doc: Any, overlay: dict[str, Any]) -> None:
    """Merge ``overlay`` into the round-trip mapping ``doc`` in place, as :func:`deep_merge` does; a value equal to
    the one already there is left untouched, so its comments stay."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            merge_into(doc[key], value)
        elif key not in doc or doc[key] != value:
            doc[key] = value


def overlay_text(params_text: str, overlay: dict[str, Any]) -> str:
    """``params_text`` with ``overlay`` merged in, every comment and untouched line kept."""
    doc = load_roundtrip(params_text)
    merge_into(doc, overlay)
    return dump_roundtrip(doc)


def read_overlay(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The overlay at ``path`` with the overlays it ``extends`` merged under it (first to last, then its own keys)."""
    path = Path(path)
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: `extends` loops back to {path.name}; remove one of the `extends` entries")
    data = load_params(path)
    bases = data.pop("extends", None) or []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: extends = {bases!r} is not allowed; expected a list of overlay files")
    out: dict[str, Any] = {}
    for base in bases:
        out = deep_merge(out, read_overlay(path.parent / base, (*_seen, path.resolve())))
    return deep_merge(out, data)


def apply_overlay(overlay_path: Path, params_path: Path) -> dict[str, Any]:
    """Merge ``overlay_path`` into ``params_path`` and write it, only if all of the result is valid
    (:func:`irprune.validate.validate_params`: every section, every stage, the grids); else :class:`ConfigError`
    listing every problem, and ``params_path`` is left unchanged."""
    from .validate import validate_params

    overlay = read_overlay(overlay_path)
    merged = deep_merge(load_params(params_path), overlay)
    from ruamel.yaml.error import YAMLError

    try:
        text = overlay_text(params_path.read_text(encoding="utf-8"), overlay)
    except YAMLError as e:    # e.g. a duplicate key, which PyYAML lets pass and ruamel (as `dvc exp run -S`) refuses
        problem = " ".join(str(e).split())
        raise ConfigError(f"{params_path} cannot be rewritten with its comments kept: {problem}; fix that line "
                          "(dvc exp run -S reads the file the same way)") from None
    tmp = params_path.with_name(f".{params_path.name}.check")
    try:
        tmp.write_text(text, encoding="utf-8")
        try:
            validate_params(tmp)
        except ConfigError as e:
            raise ConfigError(str(e).replace(str(tmp), f"{params_path} with {overlay_path} applied", 1)) from None
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write_text(params_path, text)
    return merged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m irprune.overlay", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overlay", type=Path)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    try:
        apply_overlay(args.overlay, args.params)
    except IRPruneError as e:
        print(f"error: {e}\n({args.params} was left unchanged; fix {args.overlay})", file=sys.stderr)
        return 2
    print(f"{args.params}: applied {args.overlay}; run `dvc repro`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
