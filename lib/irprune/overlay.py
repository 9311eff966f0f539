"""Apply a params overlay: ``python -m irprune.overlay configs/NAME.yaml [--params params.yaml]``.

An overlay is a partial ``params.yaml`` (for example the real MS MARCO subset instead of the synthetic default).
It is deep-merged into ``params.yaml`` (mappings merge key by key; lists and scalars replace), every stage's
config is validated against the result, and only then is ``params.yaml`` rewritten (atomically).  Comments in
``params.yaml`` are not kept; ``git diff params.yaml`` shows the change and ``git checkout params.yaml`` undoes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

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


def apply_overlay(overlay_path: Path, params_path: Path) -> dict[str, Any]:
    """Merge ``overlay_path`` into ``params_path`` and write it, only if all of the result is valid
    (:func:`irprune.validate.validate_params`: every section, every stage, the grids); else :class:`ConfigError`
    listing every problem, and ``params_path`` is left unchanged."""
    from .validate import validate_params

    overlay = load_params(overlay_path)
    merged = deep_merge(load_params(params_path), overlay)
    tmp = params_path.with_name(f".{params_path.name}.check")
    try:
        tmp.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
        try:
            validate_params(tmp)
        except ConfigError as e:
            raise ConfigError(str(e).replace(str(tmp), f"{params_path} with {overlay_path} applied", 1)) from None
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write_text(params_path, yaml.safe_dump(merged, sort_keys=False))
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
