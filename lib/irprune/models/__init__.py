"""Neural re-rankers: monoBERT, Conv-KNRM and Conformer-Kernel (QTI) behind one :class:`Ranker` interface.

``build_model(name, cfg, text, seed=)`` builds one by registry name; ``save_checkpoint`` / ``load_checkpoint``
store it as safetensors + JSON; ``select_device`` / ``autocast`` handle CUDA vs CPU.
"""

from .base import Batch, Pair, Ranker
from .registry import MODELS, build_model, model_config
from . import conformer_kernel, conv_knrm, monobert  # noqa: F401  (registers the models)
from .checkpoint import load_checkpoint, save_checkpoint
from .conformer_kernel import ConformerKernel, ConformerKernelConfig
from .conv_knrm import ConvKNRM, ConvKNRMConfig
from .device import autocast, move_batch, select_device
from .kernel_pooling import KernelPooling, ck_kernels, cosine_matrix, knrm_kernels
from .monobert import MonoBERT, MonoBERTConfig

__all__ = ["Batch", "Pair", "Ranker", "MODELS", "build_model", "model_config", "load_checkpoint",
           "save_checkpoint", "ConformerKernel", "ConformerKernelConfig", "ConvKNRM", "ConvKNRMConfig",
           "autocast", "move_batch", "select_device", "KernelPooling", "ck_kernels", "cosine_matrix",
           "knrm_kernels", "MonoBERT", "MonoBERTConfig"]
