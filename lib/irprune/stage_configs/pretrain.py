"""Config of the ``pretrain`` stage."""

from __future__ import annotations

from typing import Optional

from ..config import frozen, param
from ..pipeline.pretrain_stage import PretrainConfig
from ..training.spec import ModelSpec
from .common import model_section, section_param


@frozen
class PretrainStage:
    """WordPiece + MLM pretraining of monoBERT's encoder (skipped when it is pretrained) and word vectors."""

    pretrain: PretrainConfig = param(PretrainConfig)
    monobert: Optional[ModelSpec] = section_param("models.monobert", model_section("monobert"))
