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
"""

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

__all__ = [
    "GMPConfig", "GMPSchedule", "GradualPruner", "HeadGate", "HeadPruningConfig", "LotteryConfig", "Mask",
    "MaskParametrization", "MethodSettings", "MovementConfig", "MovementPruner", "PruningLog", "SAPConfig", "SCORERS",
    "ScoreContext", "apply_mask", "capture_rewind_state", "check_sparsity", "compression_from_density",
    "compression_ratio", "cubic_sparsity", "current_mask", "density_from_compression", "density_from_sparsity",
    "exponential_density", "fold", "gmp_steps", "get_scorer", "grasp", "head_importance", "heads_to_prune",
    "imp_sparsity",
    "is_update_step", "load_plain_state_dict", "lottery_ticket", "magnitude", "masks_from_scores", "n_to_prune",
    "nonzero_params", "plain_state_dict", "pq_index", "pqi_global", "pqi_per_tensor", "prunable_parameters",
    "prunable_report", "prune_heads", "prune_heads_by_importance", "prune_oneshot", "random", "sap_num_prune",
    "sap_prune", "save_plain", "shuffle_mask", "snip", "sparsity_from_compression", "sparsity_from_density",
    "sparsity_report", "synflow", "StructuredPlan", "ffn_blocks", "neuron_importance",
    "neurons_to_prune", "plan_structured", "prune_ffn_neurons", "prune_structured", "structured_mask",
]
