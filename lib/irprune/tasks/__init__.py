"""Cross-task comparison: text classification, translation and image classification pruned with the same kernels
as the rankers.

* :mod:`.classification`: AG News (CSV, Hugging Face), the synthetic topic corpus, EmbeddingBag and Transformer
  classifiers, accuracy and macro-F1.
* :mod:`.translation`: Multi30k (Hugging Face), the synthetic reordering/agreement grammar, the
  ``nn.Transformer`` seq2seq model of the GraSP/NLP report among the sources
  (``../shared/seeds/report-grasp-random-nlp.txt``), greedy and beam decoding, BLEU (sacrebleu).
* :mod:`.vision`: scikit-learn's 8x8 digits (offline), MNIST and CIFAR-10 (torchvision), LeNet-5 and a
  ResNet-20-style CIFAR network.
* :mod:`.cell`: one (task, model, method, sparsity, seed) cell; :mod:`.flops`: MACs dense/sparse;
  :mod:`.common`: the training loop; :mod:`.registry`: task name -> bundle.
"""

from .cell import ONESHOT, TASK_METHODS, CellResult, TaskPruningConfig, run_cell, schema_cell
from .common import TaskTrainConfig, fit
from .flops import MacCount, count_macs
from .prune import task_prunable
from .registry import TASKS, build_task

__all__ = ["ONESHOT", "TASK_METHODS", "CellResult", "TaskPruningConfig", "run_cell", "schema_cell",
           "TaskTrainConfig", "fit", "MacCount", "count_macs", "task_prunable", "TASKS", "build_task"]
