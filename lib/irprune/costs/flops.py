"""FLOPs of ONE forward pass per (query, document) pair, for dense and for unstructured-sparse execution.

Convention: **FLOPs = 2 x MACs** (one multiply-accumulate = one multiply + one add), as in
``torch.utils.flop_counter`` and fvcore.  Only matrix products and convolutions are counted; biases, norms,
activations, softmax, masking and the exp of the RBF kernels are not (they are O(activations) and do not
change with weight sparsity).  Embedding lookups cost 0 MACs.

Two kinds of products:

* **weight x activation** (``nn.Linear``, transformers ``Conv1D``, ``nn.Conv1d``/``nn.Conv2d``, the in- and
  out-projections of ``nn.MultiheadAttention``): counted by forward hooks from the layer's formula
  (Linear: rows x in x out; Conv: output positions x ``weight.numel()``).  Their *sparse* cost is
  ``rows x nnz(W)`` = dense x density: an unstructured sparse GEMM multiplies only the non-zero weights
  (how Evci et al. 2020, "Rigging the Lottery", count the FLOPs of sparse networks).
* **activation x activation** (attention ``QK^T`` and ``AV``, the cosine/dot matrices of the kernel models):
  counted by ``torch.utils.flop_counter.FlopCounterMode`` at the ATen level and attributed to the innermost
  module that runs them; weight sparsity does not reduce them (sparse = dense).

``FlopCounterMode`` also counts the weight products, so every hooked layer is cross-checked: its hook count
must equal the ATen count of its own module (``strict`` raises on any disagreement, or when a module owning a
weight matrix runs products no hook accounts for).  Two gaps of ``FlopCounterMode`` are closed here: the CPU
SDPA kernel ``_scaled_dot_product_flash_attention_for_cpu`` is not in its registry (a formula is added), and
``nn.MultiheadAttention``'s inference fast path (one fused op) is switched off while counting.
Counts are for the batch's padded shapes (what the kernels execute), divided by the batch size.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import defaultdict
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import Tensor, nn

# handler(module, args, kwargs, output) -> (dense MACs, sparse MACs) of the module's weight products
WeightHandler = Callable[[nn.Module, tuple, dict, Any], tuple[int, int]]


def _nnz(w: Tensor) -> int:
    return int(torch.count_nonzero(w.detach()))


def _linear(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> tuple[int, int]:
    """``y = x W^T``: rows x in x out MACs; sparse rows x nnz(W)."""
    x = args[0] if args else kwargs["input"]
    w = module.weight
    rows = x.numel() // x.shape[-1]
    return rows * w.numel(), rows * _nnz(w)


def _hf_conv1d(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> tuple[int, int]:
    """transformers ``Conv1D`` (GPT-2 style, weight ``[in, out]``): a Linear with a transposed weight."""
    x = args[0] if args else kwargs["x"]
    w = module.weight
    rows = x.numel() // x.shape[-1]
    return rows * w.numel(), rows * _nnz(w)


def _conv(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> tuple[int, int]:
    """Each output position uses every weight of every filter once: positions x ``W.numel()`` MACs (weight
    ``[C_out, C_in/groups, *kernel]``); sparse positions x nnz(W)."""
    w = module.weight
    positions = output.numel() // module.out_channels
    return positions * w.numel(), positions * _nnz(w)


def _lookup(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> tuple[int, int]:
    """Embedding lookups: 0 MACs."""
    return 0, 0


def _mha(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> tuple[int, int]:
    """``nn.MultiheadAttention`` input projections (q, k, v) and output projection; the attention products
    themselves are activation x activation and left to the ATen count."""
    names = ("query", "key", "value")
    q, k, v = (args[i] if len(args) > i else kwargs[n] for i, n in enumerate(names))
    e = module.embed_dim
    rows_q, rows_k, rows_v = q.numel() // q.shape[-1], k.numel() // k.shape[-1], v.numel() // v.shape[-1]
    if module._qkv_same_embed_dim:
        w = module.in_proj_weight
        ws = (w[:e], w[e: 2 * e], w[2 * e:])
    else:
        ws = (module.q_proj_weight, module.k_proj_weight, module.v_proj_weight)
    wo = module.out_proj.weight
    dense = sum(r * wi.numel() for r, wi in zip((rows_q, rows_k, rows_v), ws)) + rows_q * wo.numel()
    sparse = sum(r * _nnz(wi) for r, wi in zip((rows_q, rows_k, rows_v), ws)) + rows_q * _nnz(wo)
    return dense, sparse


def _weight_handlers() -> tuple[tuple[type, WeightHandler], ...]:
    """The explicit type -> formula table (first match wins; subclasses match their base)."""
    table: list[tuple[type, WeightHandler]] = [
        (nn.MultiheadAttention, _mha), (nn.Linear, _linear), (nn.Conv1d, _conv), (nn.Conv2d, _conv),
        (nn.Embedding, _lookup), (nn.EmbeddingBag, _lookup)]
    try:
        from transformers.pytorch_utils import Conv1D
        table.append((Conv1D, _hf_conv1d))
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass
    return tuple(table + _EXTRA_HANDLERS)


_EXTRA_HANDLERS: list[tuple[type, WeightHandler]] = []


def register_weight_handler(module_type: type) -> Callable[[WeightHandler], WeightHandler]:
    """Register the weight-product formula of another module type that multiplies its own weights
    (e.g. a future architecture's fused layer).  Checked before the built-in table."""
    def deco(fn: WeightHandler) -> WeightHandler:
        _EXTRA_HANDLERS.insert(0, (module_type, fn))
        return fn
    return deco


def _handler_for(module: nn.Module, table: tuple[tuple[type, WeightHandler], ...]) -> WeightHandler | None:
    for tp, fn in table:
        if isinstance(module, tp):
            return fn
    return None


def _sdpa_cpu_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None,
                    **kwargs: Any) -> int:
    """FLOPs of ``_scaled_dot_product_flash_attention_for_cpu`` (``[B, h, T, d]`` inputs): ``QK^T`` and ``AV``,
    2 x (B h Tq Tk d + B h Tq Tk d_v) (Vaswani et al. 2017, eq. 1)."""
    b, h, tq, d = query_shape
    tk, dv = key_shape[-2], value_shape[-1]
    return 2 * b * h * tq * tk * (d + dv)


def _custom_mapping() -> dict[Any, Callable[..., int]]:
    aten = torch.ops.aten
    out: dict[Any, Callable[..., int]] = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        out[aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_cpu_flops
    return out


@dataclasses.dataclass(frozen=True)
class FlopReport:
    """FLOPs (= 2 x MACs) of one forward pass **per (query, document) pair**.

    ``per_module`` maps a module name (``named_modules``; ``""`` = the model's own forward, e.g. the kernel
    models' cosine matrices) to ``(dense, sparse)`` FLOPs per pair.  ``activation_dense`` is the part that
    weight sparsity cannot reduce (attention, similarity matrices).
    """

    total_dense: float
    total_sparse: float
    activation_dense: float
    per_module: Mapping[str, tuple[float, float]]
    batch_size: int
    input_shapes: Mapping[str, tuple[int, ...]]

    @property
    def weight_dense(self) -> float:
        return self.total_dense - self.activation_dense

    @property
    def sparse_fraction(self) -> float:
        """``total_sparse / total_dense`` (1.0 for a dense model)."""
        return self.total_sparse / self.total_dense if self.total_dense else 1.0

    def per_query(self, k: int) -> tuple[float, float]:
        """(dense, sparse) FLOPs to rerank ``k`` candidates of one query (k pairs)."""
        return self.total_dense * k, self.total_sparse * k

    def to_dict(self) -> dict[str, Any]:
        return {"flops_dense": self.total_dense, "flops_sparse": self.total_sparse,
                "flops_activation": self.activation_dense, "batch_size": self.batch_size,
                "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
                "per_module": {k: list(v) for k, v in self.per_module.items()}}


def _batch_size(batch: Any) -> tuple[int, dict[str, tuple[int, ...]]]:
    if isinstance(batch, Tensor):
        return int(batch.shape[0]), {"input": tuple(batch.shape)}
    items = batch.items() if isinstance(batch, Mapping) else enumerate(batch)
    shapes = {str(k): tuple(v.shape) for k, v in items if isinstance(v, Tensor)}
    if not shapes:
        raise ValueError("count_flops: the batch holds no tensors; pass a collated batch (model.collate(pairs))")
    return int(next(iter(shapes.values()))[0]), shapes


def _call(model: nn.Module, batch: Any) -> Any:
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


@contextlib.contextmanager
def _mha_fastpath_off() -> Iterator[None]:
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):  # pragma: no cover - older torch
        yield
        return
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def _exclusive(incl: Mapping[str, int]) -> dict[str, int]:
    """Inclusive per-module counts (FlopCounterMode names, dotted) -> exclusive counts: each name minus its
    nearest *recorded* descendants (containers such as ``ModuleList`` are never called, so never recorded)."""
    excl = dict(incl)
    for name, v in incl.items():
        if name == "Global":
            continue
        parent = name
        while "." in parent:
            parent = parent.rsplit(".", 1)[0]
            if parent in incl:
                break
        else:
            parent = "Global"
        if parent in excl and parent != name:
            excl[parent] -= v
    return excl


def count_flops(model: nn.Module, batch: Any, *, batch_size: int | None = None, strict: bool = True) -> FlopReport:
    """Count the FLOPs (2 x MACs) of ``model(batch)`` per pair, dense and with sparse weights.

    ``batch`` is what the model's forward takes (a collated batch of ``B`` pairs, a tensor, or a tuple of
    positional arguments); ``batch_size`` defaults to the first dimension of its first tensor.  The model runs
    once in eval mode under ``torch.no_grad`` (its mode is restored; not ``inference_mode``, where
    FlopCounterMode's module tracker fails on parametrized weights).  Masked (parametrized) weights are
    read as the forward sees them, so a pruned model needs no folding.  ``strict`` raises ``RuntimeError`` if a
    hook formula and the ATen count disagree for a layer, or if a module that owns a weight matrix runs products
    no formula covers (the weight products would be counted as non-sparsifiable).
    """
    from torch.utils.flop_counter import FlopCounterMode

    b, shapes = _batch_size(batch)
    b = batch_size or b
    table = _weight_handlers()
    names = {m: n for n, m in model.named_modules(remove_duplicate=False)
             if not (n.endswith("parametrizations") or ".parametrizations." in n)}
    root = type(model).__name__
    weight_macs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    hooks = []
    for module, name in names.items():
        fn = _handler_for(module, table)
        if fn is None:
            continue

        def hook(mod: nn.Module, args: tuple, kwargs: dict, output: Any, fn: WeightHandler = fn,
                 name: str = name) -> None:
            d, s = fn(mod, args, kwargs, output)
            weight_macs[name][0] += d
            weight_macs[name][1] += s
        hooks.append(module.register_forward_hook(hook, with_kwargs=True))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _mha_fastpath_off(), \
                FlopCounterMode(display=False, custom_mapping=_custom_mapping()) as fc:
            _call(model, batch)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    incl = {k: int(sum(v.values())) for k, v in fc.get_flop_counts().items()}
    excl = _exclusive(incl)
    by_name = {n: m for m, n in names.items()}

    def ours(fc_name: str) -> str:
        return "" if fc_name == root else fc_name[len(root) + 1:] if fc_name.startswith(root + ".") else fc_name

    per: dict[str, list[int]] = {}
    act = 0
    problems: list[str] = []
    aten_by = {ours(k): v for k, v in excl.items() if k != "Global"}
    if excl.get("Global", 0):
        aten_by["<outside modules>"] = excl["Global"]
    for name in sorted(set(aten_by) | set(weight_macs)):
        aten = aten_by.get(name, 0)
        wd, ws = (2 * x for x in weight_macs.get(name, (0, 0)))
        rest = aten - wd
        module = by_name.get(name)
        pure = module is not None and not isinstance(module, nn.MultiheadAttention) and name in weight_macs
        if (pure and rest != 0) or rest < 0:
            problems.append(f"{name or root}: hook formula {wd} FLOPs vs ATen count {aten}")
        elif rest > 0 and module is not None and name not in weight_macs and any(
                p.dim() >= 2 for p in module._parameters.values() if p is not None):
            problems.append(f"{name or root} ({type(module).__name__}) owns weight matrices and runs {rest} FLOPs "
                            "of products no formula covers; register one with register_weight_handler")
        rest = max(rest, 0)
        if wd or rest:
            per[name] = [wd + rest, ws + rest]
            act += rest
    if problems and strict:
        raise RuntimeError("count_flops: " + "; ".join(problems) + " (pass strict=False to accept the ATen counts)")
    total_d = sum(v[0] for v in per.values())
    total_s = sum(v[1] for v in per.values())
    return FlopReport(total_dense=total_d / b, total_sparse=total_s / b, activation_dense=act / b,
                      per_module={k: (v[0] / b, v[1] / b) for k, v in per.items()}, batch_size=b,
                      input_shapes=shapes)


__all__ = ["FlopReport", "count_flops", "register_weight_handler"]
