"""Differentiable Search Index (Tay et al. 2022): a sequence-to-sequence model that maps queries to document ids.

* :mod:`.config` -- typed configs (``params.yaml`` section ``dsi``) and the stage config ``DSIStage``.
* :mod:`.ids` -- document-id schemes (registry ``ID_SCHEMES``: atomic, naive, semantic).
* :mod:`.trie` -- prefix trie for constrained beam search.
* :mod:`.arch` -- the networks (registry ``ARCHS``: t5 from scratch or pretrained; bert = a checkpoint's BERT
  encoder + a small decoder from scratch).
* :mod:`.tokenizer`, :mod:`.model` -- tokenizers, the one ``DSIModel`` of every arch, checkpoints (safetensors).
* :mod:`.data`, :mod:`.train` -- the indexed subset, multi-task training, the checkpoint rule.
* :mod:`.retrieve` -- constrained beam search -> Run; Hits@k.
* :mod:`.prune` -- the DSI adapter of the one cell layer (``DSI_METHODS``: train-prune-recover with one-shot
  magnitude, GMP) and encoder/decoder sparsity.

Submodules are imported on use (this package imports neither torch nor transformers).
"""

from .config import (DSIConfig, DSIIdConfig, DSIModelConfig, DSIPruneConfig, DSIRetrieveConfig, DSIStage,
                     DSITrainConfig)

__all__ = ["DSIConfig", "DSIIdConfig", "DSIModelConfig", "DSIPruneConfig", "DSIRetrieveConfig", "DSIStage",
           "DSITrainConfig"]
