"""Model-agnostic pruning kernels: score, then mask (one shared selection), applied as parametrizations.

* Which tensors: :func:`prunable_parameters` (by module kind; weights only).
* Scorers (higher = kept): magnitude, random, SNIP, GraSP, SynFlow (:mod:`.scorers`, registry :data:`SCORERS`).
* Scores -> masks: :func:`masks_from_scores` (``global`` / ``layerwise``; masks only shrink).
* Masks: :class:`Mask` (save/load/validate), :func:`apply_mask`, :func:`fold`, :func:`plain_state_dict`.
* Kernels of the methods: :func:`prune_oneshot`, :func:`shuffle_mask`, :class:`GradualPruner`,
  :class:`MovementPruner`, :func:`lottery_ticket`, :func:`sap_prune`, :func:`prune_heads_by_importance`,
  :func:`prune_structured`.
* The cell layer: one procedure per method (:mod:`.procedures`), one registry (:mod:`.methods`), one driver
  (:func:`.driver.run_method`) over a task adapter (:class:`.cell.TaskAdapter`); import them from their modules.
* Sparsity bookkeeping: :mod:`.sparsity` conversions, :func:`sparsity_report`, :func:`nonzero_params`,
  PQ Index and :class:`PruningLog`.

Imported lazily (PEP 562): ``import irprune.pruning`` loads no submodule, and a name is imported from its module on
first use, so a stage that only needs the torch-free :mod:`.sparsity` conversions (collect, report) never imports
torch.  The imports below are the map of names to modules (type checkers and ``tests/test_dvc_deps.py`` read them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .apply import (MaskParametrization, apply_mask, current_mask, fold, load_plain_state_dict,
                        plain_state_dict, save_plain, sparsity_report)
    from .gmp import GMPConfig, GradualPruner
    from .heads import (HeadGate, HeadPruningConfig, head_importance, heads_to_prune, prune_heads,
                        prune_heads_by_importance)
    from .lottery import LotteryConfig, capture_rewind_state, lottery_ticket
    from .mask import Mask
    from .movement import MovementConfig, MovementPruner
    from .oneshot import prune_oneshot, shuffle_mask
    from .pqi import PruningLog, pq_index, pqi_global, pqi_per_tensor
    from .prunable import nonzero_params, prunable_parameters, prunable_report
    from .registry import SCORERS, get_scorer
    from .sap import SAPConfig, sap_num_prune, sap_prune
    from .schedules import cubic_sparsity, exponential_density, gmp_steps, imp_sparsity, is_update_step
    from .settings import GMPSchedule, MethodSettings
    from .scorers import ScoreContext, grasp, magnitude, random, snip, synflow
    from .select import masks_from_scores
    from .structured import (StructuredPlan, ffn_blocks, neuron_importance, neurons_to_prune, plan_structured,
                             prune_ffn_neurons, prune_structured, structured_mask)
    from .sparsity import (check_sparsity, compression_from_density, compression_ratio, density_from_compression,
                           density_from_sparsity, n_to_prune, sparsity_from_compression, sparsity_from_density)

_EXPORTS: dict[str, tuple[str, ...]] = {
    "apply": ("MaskParametrization", "apply_mask", "current_mask", "fold", "load_plain_state_dict", "plain_state_dict",
              "save_plain", "sparsity_report"),
    "gmp": ("GMPConfig", "GradualPruner"),
    "heads": ("HeadGate", "HeadPruningConfig", "head_importance", "heads_to_prune", "prune_heads",
              "prune_heads_by_importance"),
    "lottery": ("LotteryConfig", "capture_rewind_state", "lottery_ticket"),
    "mask": ("Mask",),
    "movement": ("MovementConfig", "MovementPruner"),
    "oneshot": ("prune_oneshot", "shuffle_mask"),
    "pqi": ("PruningLog", "pq_index", "pqi_global", "pqi_per_tensor"),
    "prunable": ("nonzero_params", "prunable_parameters", "prunable_report"),
    "registry": ("SCORERS", "get_scorer"),
    "sap": ("SAPConfig", "sap_num_prune", "sap_prune"),
    "schedules": ("cubic_sparsity", "exponential_density", "gmp_steps", "imp_sparsity", "is_update_step"),
    "settings": ("GMPSchedule", "MethodSettings"),
    "scorers": ("ScoreContext", "grasp", "magnitude", "random", "snip", "synflow"),
    "select": ("masks_from_scores",),
    "structured": ("StructuredPlan", "ffn_blocks", "neuron_importance", "neurons_to_prune", "plan_structured",
                   "prune_ffn_neurons", "prune_structured", "structured_mask"),
    "sparsity": ("check_sparsity", "compression_from_density", "compression_ratio", "density_from_compression",
                 "density_from_sparsity", "n_to_prune", "sparsity_from_compression", "sparsity_from_density"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


__all__ = sorted(_MODULE_OF)
