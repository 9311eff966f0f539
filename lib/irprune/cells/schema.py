"""The results row of one cell: its columns, their meaning, validation and the cell file.

Every stage that evaluates a model writes one **cell file** per evaluated cell: a flat JSON object with exactly
the keys of :data:`COLUMNS` (``null`` where a value does not apply, e.g. ``bleu`` for ranking, FLOPs for BM25).
:func:`make_cell` builds one from keyword arguments and fills the rest with ``null``; :func:`write_cell` validates
and writes it atomically; :func:`read_cell` reads and validates one.  Any problem names the file, the key, what is
wrong and the fix.  The report (:mod:`irprune.report.results`) collects cell files into the tidy table and only
reads them.

Columns (after ranx's tidy report, ``ranx/data_structures/report.py``: results are data, tables are rendered from
them):

* identity: ``task`` (ranking | classification | translation | vision: image classification | dsi: generative
  retrieval evaluated on DSI's indexed subset of the collection, never comparable with full-collection ranking
  rows | dense: first-stage dense retrieval over the whole collection, the bi-encoder with its index uncompressed,
  compressed by PQ/JPQ, or with its query encoder pruned, whose size columns are the *index*'s bytes), ``model``, ``method`` (any non-empty name: the report draws a method it has no style for in a default
  style), ``target_sparsity`` and ``achieved_sparsity`` (fraction of *prunable* weights that are zero; 0 for
  dense/BM25), ``seed``, ``split``;
* effectiveness: ranking ``mrr@10 ndcg@10 map recall@10 recall@100 recall@1000`` (in [0, 1]), classification and
  vision ``accuracy macro_f1`` (in [0, 1]), translation ``bleu`` (in [0, 100]); ``primary_metric`` names the
  column the report compares, and ``primary_value`` repeats its value;
* cost: ``total_params prunable_params nonzero_params``; ``flops_dense flops_sparse``: FLOPs of one forward pass
  of one query-document pair (ranking, DSI) or one example (the other tasks), **FLOPs = 2 x MACs** (one
  multiply-accumulate = one multiply + one add, the ``torch.utils.flop_counter``/fvcore convention), counting
  matrix products and convolutions only, with embedding lookups counted as 0 (a lookup is a copy, not a
  product); ``flops_sparse`` counts only the products of non-zero weights (:mod:`irprune.costs.flops` for the
  rankers, :mod:`irprune.tasks.flops` for the task models, both under these rules);
  ``size_dense_bytes size_sparse_bytes``, ``latency_ms_per_query``, ``wall_time_s`` (the stage's time), ``pqi``
  (PQ Index of the kept weights with SAP's (p, q); Diao et al. 2023);
* ``per_query_path``: JSON of per-query scores for significance tests;
* what the sparsity covers, counted on the model after pruning by
  :func:`irprune.pruning.sparsity.sparsity_columns`: ``sparsity_prunable`` (zeros among the prunable weights /
  ``prunable_params``; weights a structured method removed count as zeros) and ``sparsity_all`` (zeros among
  *all* parameters / ``total_params``, frozen embeddings, biases and norms included: a ranker whose prunable
  weights are 2% of its parameters is 1.8% sparse overall at 90%), ``prunable_kinds`` (prunable tensors per
  module kind, ``"conv 3, linear 1"``), ``frozen_params`` (parameters never trained, ``requires_grad`` off);
* measured latency per engine (:mod:`irprune.costs.engines`), median ms per query: ``latency_ms_<engine>`` for
  each name of :data:`ENGINE_NAMES` (``-`` as ``_``), with ``latency_threads`` (intra-op threads) and
  ``latency_cpu`` (the CPU model that timed them).

Columns in :data:`ADDED_COLUMNS` came after the first cell files were written: a file without them reads them as
``null`` (every other column is required).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from ..errors import DataFormatError
from ..io import atomic_write_json

TASKS = ("ranking", "classification", "translation", "vision", "dsi", "dense")
RANKING_METRICS = ("mrr@10", "ndcg@10", "map", "recall@10", "recall@100", "recall@1000")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")
TRANSLATION_METRICS = ("bleu",)
METRICS = RANKING_METRICS + CLASSIFICATION_METRICS + TRANSLATION_METRICS
TASK_METRICS = {"ranking": RANKING_METRICS, "classification": CLASSIFICATION_METRICS,
                "translation": TRANSLATION_METRICS, "vision": CLASSIFICATION_METRICS, "dsi": RANKING_METRICS,
                "dense": RANKING_METRICS}
INT_COSTS = ("total_params", "prunable_params", "nonzero_params", "size_dense_bytes", "size_sparse_bytes")
FLOAT_COSTS = ("flops_dense", "flops_sparse", "latency_ms_per_query", "wall_time_s", "pqi")
KEY = ("task", "model", "method", "target_sparsity", "seed", "split")
#: the inference engines of :data:`irprune.costs.engines.ENGINES` (a test keeps the two in step), in its order
ENGINE_NAMES = ("torch", "torch-csr", "onnxruntime", "onnxruntime-int8", "openvino", "openvino-bf16",
                "openvino-int8", "deepsparse")
ENGINE_LATENCY = tuple(f"latency_ms_{e.replace('-', '_')}" for e in ENGINE_NAMES)
SPARSITY_COLUMNS = ("sparsity_prunable", "sparsity_all")
#: The dense task's index compressions, in display order; their systems are named ``<method><M>`` (``opq96``).
INDEX_METHODS = ("pq", "opq", "jpq")


def index_method(system: str) -> str | None:
    """``pq`` / ``opq`` / ``jpq`` of a compressed-index system name of the dense task (``opq96``), else ``None``."""
    method = system.rstrip("0123456789")
    return method if method in INDEX_METHODS and method != system else None

#: column -> (kind, required); kinds: str, int, frac (float in [0, 1]), float, metric, nnint, nnfloat.
SCHEMA: dict[str, tuple[str, bool]] = {
    "task": ("str", True), "model": ("str", True), "method": ("str", True),
    "target_sparsity": ("frac", True), "achieved_sparsity": ("frac", True), "seed": ("int", True),
    "split": ("str", True),
    **{m: ("metric", False) for m in METRICS},
    "primary_metric": ("str", True), "primary_value": ("float", True),
    **{c: ("nnint", False) for c in INT_COSTS},
    **{c: ("nnfloat", False) for c in FLOAT_COSTS},
    "per_query_path": ("str", False),
    **{c: ("frac", False) for c in SPARSITY_COLUMNS},
    "prunable_kinds": ("str", False), "frozen_params": ("nnint", False),
    **{c: ("nnfloat", False) for c in ENGINE_LATENCY},
    "latency_threads": ("nnint", False), "latency_cpu": ("str", False),
}
COLUMNS: tuple[str, ...] = tuple(SCHEMA)
#: columns added after cell files existed: optional on read (absent = null), written by every current writer
ADDED_COLUMNS: tuple[str, ...] = COLUMNS[COLUMNS.index("sparsity_prunable"):]
#: integer columns (cast to int on validation, to pandas' Int64 in the tidy table)
INT_COLUMNS: tuple[str, ...] = ("seed",) + INT_COSTS + ("frozen_params", "latency_threads")

_KIND_HELP = {"str": "a non-empty string", "int": "an integer", "frac": "a number in [0, 1]",
              "float": "a finite number", "metric": "a number (or null)", "nnint": "an integer >= 0 (or null)",
              "nnfloat": "a number >= 0 (or null)"}


def _bad(path: Any, key: str, value: Any, problem: str, fix: str) -> DataFormatError:
    return DataFormatError(f"cell key {key!r} = {value!r}: {problem}", path=path, fix=fix)


def _check_value(path: Any, key: str, value: Any, kind: str, required: bool) -> None:
    if value is None:
        if required:
            raise _bad(path, key, value, f"required, expected {_KIND_HELP[kind]}", f"set {key!r}")
        return
    fix = f"write {key!r} as {_KIND_HELP[kind]}"
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise _bad(path, key, value, f"expected {_KIND_HELP[kind]}", fix)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(path, key, value, f"expected {_KIND_HELP[kind]}", fix)
    if kind in ("int", "nnint") and not isinstance(value, int):
        if not (isinstance(value, float) and value.is_integer()):
            raise _bad(path, key, value, "expected an integer", fix)
    if not math.isfinite(value):
        raise _bad(path, key, value, "not a finite number", fix)
    if kind == "frac" and not 0.0 <= value <= 1.0:
        raise _bad(path, key, value, "outside [0, 1]", f"{key} is a fraction (0.9 = 90% of prunable weights zero)")
    if kind in ("nnint", "nnfloat") and value < 0:
        raise _bad(path, key, value, "negative", fix)


def validate_cell(cell: Any, path: Any = "<cell>") -> dict[str, Any]:
    """Check a cell dict against the schema; returns it with integer columns as ints.  Errors name file and key."""
    if not isinstance(cell, Mapping):
        raise DataFormatError(f"a cell file holds one JSON object, got {type(cell).__name__}", path=path,
                              fix="write a flat object with the keys of irprune.cells.schema.COLUMNS")
    missing = [c for c in COLUMNS if c not in cell and c not in ADDED_COLUMNS]
    unknown = sorted(set(cell) - set(COLUMNS))
    if missing or unknown:
        parts = ([f"missing key(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
        raise DataFormatError("; ".join(parts), path=path,
                              fix="a cell has exactly the keys of irprune.cells.schema.COLUMNS (null where n/a); "
                                  "build it with irprune.cells.schema.make_cell")
    for key, (kind, required) in SCHEMA.items():
        _check_value(path, key, cell.get(key), kind, required)
    out = {c: cell.get(c) for c in COLUMNS}
    for key in INT_COLUMNS:
        if out[key] is not None:
            out[key] = int(out[key])
    task = out["task"]
    if task not in TASKS:
        raise _bad(path, "task", task, "unknown task", f"use one of {', '.join(TASKS)}")
    for m in METRICS:
        v = out[m]
        if v is None:
            continue
        if m not in TASK_METRICS[task]:
            raise _bad(path, m, v, f"not a {task} metric", f"set it to null; {task} metrics are "
                       f"{', '.join(TASK_METRICS[task])}")
        hi = 100.0 if m == "bleu" else 1.0
        if not 0.0 <= v <= hi:
            raise _bad(path, m, v, f"outside [0, {hi:g}]", "write metrics as fractions (BLEU in [0, 100])")
    pm = out["primary_metric"]
    if pm not in TASK_METRICS[task]:
        raise _bad(path, "primary_metric", pm, f"not a {task} metric", f"use one of {', '.join(TASK_METRICS[task])}")
    if out[pm] is None or not math.isclose(out[pm], out["primary_value"], rel_tol=1e-9, abs_tol=1e-12):
        raise _bad(path, "primary_value", out["primary_value"], f"differs from {pm} = {out[pm]!r}",
                   f"primary_value repeats the value of the column primary_metric names ({pm})")
    for a, b in (("nonzero_params", "total_params"), ("prunable_params", "total_params")):
        if out[a] is not None and out[b] is not None and out[a] > out[b]:
            raise _bad(path, a, out[a], f"exceeds {b} = {out[b]}", f"count {a} within the model's {b}")
    sp, sa, n_p, n_t = (out[k] for k in ("sparsity_prunable", "sparsity_all", "prunable_params", "total_params"))
    if None not in (sp, sa, n_p, n_t) and sp * n_p > sa * n_t + 0.5:
        raise _bad(path, "sparsity_all", sa, f"counts fewer zeros ({sa * n_t:.0f}) than sparsity_prunable does "
                   f"among the prunable weights ({sp * n_p:.0f})", "count both on the same model with "
                   "irprune.pruning.sparsity.sparsity_columns (the prunable weights are among all parameters)")
    fd, fs = out["flops_dense"], out["flops_sparse"]
    if fd is not None and fs is not None and fs > fd * (1 + 1e-9):
        raise _bad(path, "flops_sparse", fs, f"exceeds flops_dense = {fd}",
                   "sparse execution skips multiply-adds, never adds them: count both for the same input")
    return out


def make_cell(**fields: Any) -> dict[str, Any]:
    """A validated cell from keyword arguments (names as in :data:`COLUMNS`; ``@`` written as ``_at_``, e.g.
    ``mrr_at_10``); absent columns are ``null`` and ``primary_value`` defaults to the primary metric's value."""
    cell: dict[str, Any] = {c: None for c in COLUMNS}
    for k, v in fields.items():
        col = k.replace("_at_", "@")
        if col not in cell:
            raise DataFormatError(f"make_cell: unknown column {k!r}", fix=f"columns: {', '.join(COLUMNS)}")
        cell[col] = v
    if cell["primary_value"] is None and cell["primary_metric"] in cell:
        cell["primary_value"] = cell[cell["primary_metric"]]
    return validate_cell(cell, "<make_cell>")


#: irprune.costs.summary.measure_costs row key -> cell column (the median latency is the reported one; per
#: engine, irprune.costs.engines.flat_columns' ``latency_<engine>_median_ms``).
COST_KEYS = {"total_params": "total_params", "nonzero_params": "nonzero_params", "flops_dense": "flops_dense",
             "flops_sparse": "flops_sparse", "size_dense_bytes": "size_dense_bytes",
             "size_sparse_bytes": "size_sparse_bytes", "latency_median_ms": "latency_ms_per_query",
             **{f"latency_{e.replace('-', '_')}_median_ms": c for e, c in zip(ENGINE_NAMES, ENGINE_LATENCY)},
             "latency_threads": "latency_threads", "latency_cpu": "latency_cpu"}


def cost_columns(cost_row: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's cost columns from a :func:`irprune.costs.summary.measure_costs` row (other keys dropped), for
    ``make_cell(**fields, **cost_columns(row))``."""
    return {col: cost_row[k] for k, col in COST_KEYS.items() if k in cost_row}


def write_cell(path: str | Path, cell: Mapping[str, Any]) -> None:
    """Validate and write a cell file atomically."""
    atomic_write_json(path, validate_cell(cell, path))


def read_cell(path: str | Path) -> dict[str, Any]:
    """Read and validate one cell file; malformed JSON names the line and column."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(f"not valid JSON ({e.msg}, column {e.colno})", path=path, line=e.lineno,
                              fix="rewrite the file with irprune.cells.schema.write_cell") from None
    return validate_cell(obj, path)


__all__ = ["TASKS", "RANKING_METRICS", "CLASSIFICATION_METRICS", "TRANSLATION_METRICS", "METRICS", "TASK_METRICS",
           "INT_COSTS", "FLOAT_COSTS", "KEY", "SCHEMA", "COLUMNS", "COST_KEYS", "ADDED_COLUMNS", "INT_COLUMNS",
           "ENGINE_NAMES", "ENGINE_LATENCY", "SPARSITY_COLUMNS", "INDEX_METHODS", "index_method", "validate_cell",
           "make_cell",
           "cost_columns", "write_cell", "read_cell"]
