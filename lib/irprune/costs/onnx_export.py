"""ONNX export of a ranker, and how closely another engine's scores agree with torch's.

:func:`export_onnx` writes ``model(batch) -> scores [B]`` as an ONNX graph whose inputs are the collated batch's
tensors (by name, every dimension dynamic) and whose one output is ``score``.  The model is exported as a folded
fp32 copy on the CPU (masks become plain zero weights; the original is untouched), with
``nn.MultiheadAttention``'s fused inference path off (its one fused op has no ONNX form; the unfused ops do).
The TorchScript exporter (``dynamo=False``, seconds) is tried first and ``torch.export`` (``dynamo=True``, needs
``onnxscript``) second;
the result names the one that worked, or the reason neither did, so an engine that needs ONNX can say "not
exportable: <reason>" instead of failing the cell.

:func:`agreement` compares scores per query: the largest absolute score difference and the fraction of queries
whose top-10 is in the same order.  Exact ties in torch's scores (filler pairs, duplicate documents) leave the
order free, so "same order" means: at every rank of the engine's top 10 the torch score is the torch score of
that rank in torch's own order, within ``tie_tol``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import time
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

SCORE = "score"


class ScoreGraph(nn.Module):
    """``forward(*tensors) -> model(dict(zip(keys, tensors)))``: positional inputs for the exporters."""

    def __init__(self, model: nn.Module, keys: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.keys = tuple(keys)

    def forward(self, *tensors: Tensor) -> Tensor:
        return self.model(dict(zip(self.keys, tensors))).float()


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """Where the graph went (``path``), its input names, the exporter used, and ``error`` if none worked."""

    path: Path | None
    input_names: tuple[str, ...]
    exporter: str | None
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"onnx_exporter": self.exporter, "onnx_export_s": round(self.seconds, 3), "onnx_error": self.error}


def tensor_inputs(batch: Mapping[str, Any]) -> dict[str, Tensor]:
    """The tensors of a collated batch, in the batch's key order (other entries dropped)."""
    return {k: v for k, v in batch.items() if isinstance(v, Tensor)}


def _dynamic_axes(inputs: Mapping[str, Tensor]) -> dict[str, dict[int, str]]:
    axes = {k: {i: ("batch" if i == 0 else f"{k}_dim{i}") for i in range(v.dim())} for k, v in inputs.items()}
    axes[SCORE] = {0: "batch"}
    return axes


def _short(e: BaseException) -> str:
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(e)).split())
    return f"{type(e).__name__}: {text[:300]}"


def export_onnx(model: nn.Module, example: Mapping[str, Any], path: str | Path, opset: int = 17) -> ExportResult:
    """Export ``model`` (a ranker, masked or folded) for batches shaped like ``example``; never raises on an
    exporter failure (see ``ExportResult.error``)."""
    from .flops import _mha_fastpath_off
    from .latency import folded_copy

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = {k: v.detach().to("cpu") for k, v in tensor_inputs(example).items()}
    names = tuple(inputs)
    t0 = time.perf_counter()
    try:
        clone = folded_copy(model).to("cpu").float().eval()
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return ExportResult(None, names, None, time.perf_counter() - t0, f"could not copy the model: {_short(e)}")
    graph = ScoreGraph(clone, names).eval()
    args = tuple(inputs.values())
    errors: list[str] = []
    for exporter in ("torchscript", "dynamo"):
        try:
            kwargs: dict[str, Any] = {"input_names": list(names), "output_names": [SCORE], "opset_version": opset}
            if exporter == "torchscript":
                kwargs.update(dynamo=False, dynamic_axes=_dynamic_axes(inputs), do_constant_folding=True)
            else:
                kwargs.update(dynamo=True, dynamic_shapes=tuple(
                    {i: torch.export.Dim.AUTO for i in range(v.dim())} for v in args), optimize=True,
                    verbose=False)
            with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), \
                    _mha_fastpath_off():
                warnings.simplefilter("ignore")
                torch.onnx.export(graph, args, str(path), **kwargs)
            return ExportResult(path, names, exporter, time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001 - every exporter failure is reported
            errors.append(f"{exporter}: {_short(e)}")
    return ExportResult(None, names, None, time.perf_counter() - t0, "; ".join(errors))


def _same_top(ref: np.ndarray, other: np.ndarray, k: int, tie_tol: float) -> bool:
    n = min(k, ref.size)
    ref_order = np.argsort(-ref, kind="stable")[:n]
    other_order = np.argsort(-other, kind="stable")[:n]
    tol = tie_tol * max(1.0, float(np.abs(ref).max()))
    return bool(np.all(np.abs(ref[other_order] - ref[ref_order]) <= tol))


def agreement(reference: Sequence[np.ndarray], scores: Sequence[np.ndarray], k: int = 10,
              tie_tol: float = 1e-6) -> dict[str, Any]:
    """``max_abs_diff`` of scores and ``top{k}_same_order`` (fraction of queries) of ``scores`` against
    ``reference`` (one array of candidate scores per query), and ``reference_score_std`` (median over queries of
    the reference scores' standard deviation: a difference means little or much relative to it)."""
    if len(reference) != len(scores):
        raise ValueError(f"agreement: {len(reference)} reference queries but {len(scores)} scored")
    diffs = [float(np.max(np.abs(np.asarray(r, np.float64) - np.asarray(s, np.float64)))) if np.size(r) else 0.0
             for r, s in zip(reference, scores)]
    same = [_same_top(np.asarray(r, np.float64), np.asarray(s, np.float64), k, tie_tol)
            for r, s in zip(reference, scores)]
    spread = [float(np.std(np.asarray(r, np.float64))) for r in reference if np.size(r)]
    return {"max_abs_diff": max(diffs) if diffs else 0.0, f"top{k}_same_order": float(np.mean(same)) if same else 1.0,
            "agreement_queries": len(same), "reference_score_std": float(np.median(spread)) if spread else 0.0}


__all__ = ["ExportResult", "SCORE", "ScoreGraph", "agreement", "export_onnx", "tensor_inputs"]
