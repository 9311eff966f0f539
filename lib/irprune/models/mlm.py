"""Masked-language-model pretraining of the monoBERT encoder on collection passages.

Devlin et al. 2019, "BERT" sec. 3.1 / appendix A.1: 15% of the (non-special) tokens are chosen; of those 80%
become ``[MASK]``, 10% a random token, 10% stay unchanged; the loss is cross-entropy on the chosen tokens.
The result is saved with ``save_pretrained`` (encoder + MLM head + tokenizer), so the cross-encoder loads it
with ``MonoBERTConfig(pretrained=<dir>)``: pretrained encoder -> fine-tuning -> pruning.  (The pooler and the
classifier start untrained: no next-sentence objective is used.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from ..config import frozen, param
from ..io import atomic_dir
from .bert_init import BertInitConfig, init_bert_
from .monobert import MonoBERTConfig, bert_config


@frozen
class MLMConfig:
    """MLM pretraining schedule (a few CPU epochs by default)."""

    epochs: int = param(3, ge=1, doc="passes over the passages")
    max_steps: Optional[int] = param(None, ge=1, doc="stop after this many optimizer steps (null = all epochs)")
    batch_size: int = param(32, ge=1)
    lr: float = param(5e-4, gt=0, doc="AdamW peak learning rate (linear warmup then linear decay)")
    warmup_frac: float = param(0.06, ge=0, lt=1, doc="fraction of steps for linear warmup")
    weight_decay: float = param(0.01, ge=0)
    mask_prob: float = param(0.15, gt=0, lt=1, doc="fraction of tokens predicted (BERT: 0.15)")
    max_len: int = param(128, ge=8, doc="passage tokens per example, [CLS]/[SEP] included")
    seed: int = param(0, ge=0)
    init: BertInitConfig = param(BertInitConfig, doc="how the encoder starts (irprune.models.bert_init)")


@dataclass
class MLMResult:
    model: Any                 # transformers.BertForMaskedLM
    losses: list[float]        # training loss per optimizer step
    directory: Path | None     # where it was saved (None when out_dir was not given)


def mask_tokens(input_ids: Tensor, special: Tensor, *, mask_id: int, vocab_size: int, prob: float = 0.15,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """BERT's 80/10/10 masking.  ``input_ids`` [B, T], ``special`` [B, T] (True = never chosen: [CLS], [SEP],
    padding) -> (corrupted inputs [B, T], labels [B, T] with -100 where nothing is predicted)."""
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    u = torch.rand(input_ids.shape, generator=generator)
    inputs = input_ids.clone()
    inputs[chosen & (u < 0.8)] = mask_id
    rand_pos = chosen & (u >= 0.8) & (u < 0.9)
    inputs[rand_pos] = torch.randint(vocab_size, input_ids.shape, generator=generator)[rand_pos]
    return inputs, labels


def _encode(texts: Sequence[str], tokenizer: Any, max_len: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]


def _pad(rows: Sequence[list[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return ids, (ids != pad_id).long()


def mlm_loss(model: Any, inputs: Tensor, attention: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over the predicted positions."""
    return model(input_ids=inputs, attention_mask=attention, labels=labels).loss


def pretrain_mlm(texts: Sequence[str], tokenizer: Any, bert: MonoBERTConfig = MonoBERTConfig(),
                 cfg: MLMConfig = MLMConfig(), out_dir: str | Path | None = None) -> MLMResult:
    """Pretrain a ``BertForMaskedLM`` of shape ``bert`` on ``texts``; save it (atomically) to ``out_dir``."""
    from transformers import BertForMaskedLM

    if not texts:
        raise ValueError("pretrain_mlm needs at least one passage")
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        hf = bert_config(bert, bert.vocab_size or len(tokenizer), tokenizer.pad_token_id)
        model = init_bert_(BertForMaskedLM(hf), cfg.init)
    if cfg.max_len > hf.max_position_embeddings:
        raise ValueError(f"MLM max_len {cfg.max_len} exceeds the model's {hf.max_position_embeddings} positions")
    rows = _encode(texts, tokenizer, cfg.max_len)
    special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = min(cfg.max_steps or steps_per_epoch * cfg.epochs, steps_per_epoch * cfg.epochs)
    warmup = int(cfg.warmup_frac * total)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    model.train()
    losses: list[float] = []
    from ..progress import Progress

    bar = Progress("mlm pretraining", total=total)
    while len(losses) < total:
        order = torch.randperm(len(rows), generator=gen).tolist()
        done_before = len(losses)
        for start in range(0, len(order), cfg.batch_size):
            ids, att = _pad([rows[i] for i in order[start: start + cfg.batch_size]], tokenizer.pad_token_id)
            special = torch.isin(ids, special_ids) | (att == 0)
            inputs, labels = mask_tokens(ids, special, mask_id=tokenizer.mask_token_id, vocab_size=len(tokenizer),
                                         prob=cfg.mask_prob, generator=gen)
            if (labels != -100).sum() == 0:
                continue
            loss = mlm_loss(model, inputs, att, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            bar.step(len(losses), loss=losses[-1])
            if len(losses) >= total:
                break
        if len(losses) == done_before:
            raise ValueError("pretrain_mlm: no token could be masked (are the passages empty after tokenisation?)")
    model.eval()
    directory = None
    if out_dir is not None:
        directory = Path(out_dir)
        with atomic_dir(directory) as tmp:
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
    return MLMResult(model=model, losses=losses, directory=directory)
