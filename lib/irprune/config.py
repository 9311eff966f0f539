"""Typed, frozen configs loaded from ``params.yaml`` and validated on load.

Every config is a frozen dataclass whose fields carry their constraints (:func:`param`).  :func:`from_mapping`
builds one from a ``params.yaml`` section and fails at once, naming the dotted key, the value and what is
allowed, on unknown keys, wrong types and out-of-range values.  The pattern follows open_lth's
``foundations/hparams.py``: the config *is* the schema, and defaults live in one place.

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``Literal[...]``, ``Optional[T]``,
``tuple[T, ...]`` and nested config dataclasses.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar, Union, get_args, get_origin, get_type_hints

from .errors import ConfigError

C = TypeVar("C")

_MISSING = dataclasses.MISSING


def param(default: Any = _MISSING, *, ge: float | None = None, gt: float | None = None,
          le: float | None = None, lt: float | None = None, choices: tuple | None = None,
          nonempty: bool = False, doc: str = "") -> Any:
    """A dataclass field with validation metadata.

    ``ge``/``gt``/``le``/``lt`` bound numbers (and every element of a tuple of numbers); ``choices`` restricts
    strings (prefer ``Literal`` in the annotation); ``nonempty`` rejects empty strings and tuples.
    """
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "nonempty": nonempty, "doc": doc}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple (immutable) as the default of a list-valued param")
    if dataclasses.is_dataclass(default) and isinstance(default, type) is False:
        return dataclasses.field(default_factory=lambda d=default: d, metadata=meta)
    if isinstance(default, type) and dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return " or ".join(_describe(a) for a in args) + " or null"
    if origin is tuple:
        return f"a list of {_describe(get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(f.name for f in dataclasses.fields(tp))}"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"params.yaml: {key} = {value!r} is not allowed; expected {allowed}")


def _check_bounds(key: str, value: Any, meta: Mapping[str, Any]) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            raise _fail(key, value, "a number, not NaN")
        bounds = []
        for name, op, sym in (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                              ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
            b = meta.get(name)
            if b is not None:
                bounds.append(f"{sym} {b}")
                if not op(value, b):
                    raise _fail(key, value, "a value " + " and ".join(
                        f"{s} {meta[n]}" for n, s in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
                        if meta.get(n) is not None))
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise _fail(key, value, "one of " + ", ".join(repr(c) for c in choices))


def _coerce(key: str, value: Any, tp: Any, meta: Mapping[str, Any]) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _coerce(key, value, a, meta)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise _fail(key, value, _describe(tp))
    if origin is Literal:
        if value not in get_args(tp) or isinstance(value, bool) != any(isinstance(a, bool) for a in get_args(tp)):
            raise _fail(key, value, _describe(tp))
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise _fail(key, value, _describe(tp))
        if meta.get("nonempty") and not value:
            raise _fail(key, value, "a non-empty list")
        elem = args[0]
        out = tuple(_coerce(f"{key}[{i}]", v, elem, meta) for i, v in enumerate(value))
        return out
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise _fail(key, value, _describe(tp))
        return from_mapping(tp, value, prefix=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(key, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, value, "an integer")
        _check_bounds(key, value, meta)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(key, value, "a number")
        value = float(value)
        _check_bounds(key, value, meta)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _fail(key, value, "a string")
        if meta.get("nonempty") and not value:
            raise _fail(key, value, "a non-empty string")
        _check_bounds(key, value, meta)
        return value
    if tp is Any:
        return value
    raise TypeError(f"config field {key} has an unsupported type {tp!r}")


def from_mapping(cls: type[C], data: Mapping[str, Any] | None, prefix: str = "") -> C:
    """Build the frozen config ``cls`` from ``data``; every problem names its dotted key."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a config dataclass")
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise _fail(prefix or cls.__name__, data, _describe(cls))
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"params.yaml: unknown key(s) {', '.join(where + str(k) for k in unknown)}; "
            f"allowed keys under {prefix or 'this section'}: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _coerce(key, data[name], hints[name], f.metadata)
        elif f.default is _MISSING and f.default_factory is _MISSING:  # type: ignore[misc]
            raise ConfigError(f"params.yaml: required key {key} is missing ({_describe(hints[name])})")
    obj = cls(**kwargs)
    post = getattr(obj, "validate", None)
    if callable(post):
        post()
    return obj


def to_mapping(cfg: Any) -> dict[str, Any]:
    """The plain (YAML/JSON-ready) form of a config: tuples become lists."""
    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def leaf_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key a config class reads (nested configs expanded)."""
    hints = get_type_hints(cls)
    keys: list[str] = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(leaf_keys(tp, key))
        else:
            keys.append(key)
    return keys


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read ``params.yaml``; a missing or malformed file is a :class:`ConfigError` naming it."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} not found; run from the project root or pass the params file's path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, got {type(data).__name__}")
    return data


def frozen(cls: type[C]) -> type[C]:
    """Decorator: a frozen, keyword-only config dataclass."""
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


__all__ = ["param", "from_mapping", "to_mapping", "leaf_keys", "load_params", "frozen", "ConfigError"]
_ = typing  # keep import for forward references resolved by get_type_hints
