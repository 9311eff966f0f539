"""The cost side of pruning: FLOPs per pair (dense and sparse execution), size on disk (dense safetensors and a
compressed sparse format) and measured latency per query.

* :func:`count_flops` -> :class:`FlopReport` (FLOPs = 2 x MACs, per (query, document) pair);
* :func:`size_on_disk` -> :class:`SizeReport`; :func:`save_sparse` / :func:`load_sparse` (bit-exact round trip);
* :func:`measure_latency` -> :class:`LatencyReport`; :func:`sparsify_linears` (torch sparse CSR Linear layers);
* :func:`measure_costs` -> one flat row per model for the results table (:class:`CostsConfig`).
"""

from .flops import FlopReport, count_flops, register_weight_handler
from .latency import (CSRLinear, LatencyConfig, folded_copy, LatencyReport, measure_latency, query_batches,
                      sparsify_linears)
from .size import SizeReport, encode_tensor, folded_state_dict, load_sparse, save_sparse, size_on_disk
from .summary import CostsConfig, filler_pairs, measure_costs

__all__ = ["CSRLinear", "CostsConfig", "FlopReport", "LatencyConfig", "LatencyReport", "SizeReport",
           "count_flops", "encode_tensor", "filler_pairs", "folded_copy", "folded_state_dict", "load_sparse",
           "measure_costs", "measure_latency", "query_batches", "register_weight_handler", "save_sparse", "size_on_disk",
           "sparsify_linears"]
