"""Fields shared by stage configs: a section read from a nested (possibly item-templated) params.yaml key."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..training.spec import ModelSpec, parse_model_spec


def section_param(section: str, parse: Callable[[Any, Any], Any], doc: str = "") -> Any:
    """A stage-config field read from the (nested, possibly item-templated) ``section`` through ``parse``."""
    return dataclasses.field(default=None, metadata={"section": section, "parse": parse, "doc": doc})


def model_section(name: str | None) -> Callable[[Any, Any], ModelSpec]:
    """Parse ``models.<name>`` (``name`` fixed) or ``models.<item>`` (``name`` None: the foreach item)."""
    return lambda item, value: parse_model_spec(name or item or "", value)


def matrix_model_section(item: Any, value: Any) -> ModelSpec:
    """Parse ``models.<item.model>`` of a matrix stage's item."""
    return parse_model_spec(item["model"] if item else "", value)
