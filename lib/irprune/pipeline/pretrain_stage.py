"""Pretrain stage: what the rankers start from when no pretrained checkpoint is configured.

* a WordPiece tokenizer trained on the collection and a BERT of monoBERT's configured shape pretrained with
  masked-language modelling on the passages (:func:`irprune.models.mlm.pretrain_mlm`, Devlin et al. 2019);
* word vectors of the collection's words for the kernel models' embeddings: PPMI-SVD of the collection or a
  checkpoint's input embeddings (``pretrain.word_vectors.method``, :mod:`irprune.training.word_vectors`).

When ``models.monobert.pretrained`` is set (a local checkpoint or a hub id) the BERT part is skipped and
``models/pretrain/pretrain.json`` says so.  Everything goes to ``models/pretrain/`` (atomically, piece by piece).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from .. import paths
from ..config import frozen, param
from ..data.store import read_dataset
from ..io import atomic_write_json
from ..models.mlm import MLMConfig, pretrain_mlm
from ..text import Vocab, WordPieceConfig, save_tokenizer, train_wordpiece
from ..training.word_vectors import WordVectorConfig, word_vectors, write_word_vectors


@frozen
class PretrainConfig:
    """The ``pretrain:`` section."""

    mlm_enabled: bool = param(True, doc="MLM-pretrain monoBERT's encoder (false: fine-tune from random init)")
    max_passages: Optional[int] = param(None, ge=1, doc="MLM on the first n passages (id order; null = all)")
    threads: int = param(1, ge=0, doc="torch CPU threads (0 = torch's default)")
    wordpiece: WordPieceConfig = param(WordPieceConfig)
    mlm: MLMConfig = param(MLMConfig)
    word_vectors: WordVectorConfig = param(WordVectorConfig)


@dataclass
class PretrainResult:
    info: dict[str, Any]
    losses: list[float]

    def table(self) -> Any:
        import pandas as pd

        return pd.Series({k: v for k, v in self.info.items() if not isinstance(v, (dict, list))})


def run(cfg: Any, dataset_dir: Path = paths.DATASET, out_dir: Path = paths.PRETRAIN_DIR,
        metrics_path: Path = paths.PRETRAIN_METRICS) -> PretrainResult:
    """Run the pretraining of ``cfg.pretrain`` for the monoBERT of ``cfg.monobert`` (a ModelSpec)."""
    p: PretrainConfig = cfg.pretrain
    bert = cfg.monobert.config
    if p.threads:
        torch.set_num_threads(p.threads)
    t0 = time.perf_counter()
    ds = read_dataset(dataset_dir, splits=[])
    ids = sorted(ds.corpus)
    texts = [ds.corpus[d] for d in ids]
    out_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"passages": len(texts)}
    losses: list[float] = []

    if p.word_vectors.enabled:
        t1 = time.perf_counter()
        vocab = Vocab.build(texts)
        vectors = word_vectors(texts, vocab, p.word_vectors)
        info["word_vectors"] = write_word_vectors(out_dir / paths.PRETRAIN_WORD_VECTORS.name, vocab, vectors)
        info["word_vectors_dim"] = p.word_vectors.dim
        info["word_vectors_method"] = p.word_vectors.method
        info["word_vectors_s"] = round(time.perf_counter() - t1, 2)
    else:
        (out_dir / paths.PRETRAIN_WORD_VECTORS.name).unlink(missing_ok=True)

    if bert.pretrained is not None:
        info["bert"] = "skipped"
        info["reason"] = (f"models.monobert.pretrained = {bert.pretrained!r} is set: monoBERT starts from that "
                          "checkpoint and its tokenizer, so no tokenizer is trained and no MLM is run")
        for sub in (paths.PRETRAIN_TOKENIZER.name, paths.PRETRAIN_MLM.name):
            _remove(out_dir / sub)
    else:
        t1 = time.perf_counter()
        tokenizer = train_wordpiece(texts, p.wordpiece)
        save_tokenizer(tokenizer, out_dir / paths.PRETRAIN_TOKENIZER.name)
        info["tokenizer_vocab"] = len(tokenizer)
        info["tokenizer_s"] = round(time.perf_counter() - t1, 2)
        if p.mlm_enabled:
            t1 = time.perf_counter()
            mlm_texts = texts[: p.max_passages] if p.max_passages else texts
            result = pretrain_mlm(mlm_texts, tokenizer, bert, p.mlm, out_dir=out_dir / paths.PRETRAIN_MLM.name)
            losses = result.losses
            info.update(bert="mlm", mlm_steps=len(losses), mlm_s=round(time.perf_counter() - t1, 2),
                        mlm_first_loss=losses[0], mlm_final_loss=sum(losses[-20:]) / len(losses[-20:]),
                        bert_parameters=sum(x.numel() for x in result.model.bert.parameters()))
        else:
            _remove(out_dir / paths.PRETRAIN_MLM.name)
            info["bert"] = "tokenizer only"
            info["reason"] = "pretrain.mlm_enabled is false: monoBERT is fine-tuned from a random initialisation"
    info["seconds"] = round(time.perf_counter() - t0, 2)
    atomic_write_json(out_dir / paths.PRETRAIN_INFO.name, {**info, "mlm_losses": losses})
    atomic_write_json(metrics_path, info)
    return PretrainResult(info=info, losses=losses)


def _remove(path: Path) -> None:
    import shutil

    if path.exists():
        shutil.rmtree(path)


__all__ = ["PretrainConfig", "PretrainResult", "run"]
