"""A BERT bi-encoder: mean pooling over the attention mask, then L2 normalisation.

This is the scoring rule of the sentence-transformers checkpoint all-MiniLM-L6-v2 (Reimers & Gurevych 2019,
"Sentence-BERT", EMNLP; the model card's ``Pooling(mean) -> Normalize``): a text's vector is the mean of its
token states where the attention mask is 1, scaled to unit length, and a query-document score is the inner
product of the two vectors (= cosine similarity).

Queries and documents may have separate encoders (:class:`BiEncoder` keeps ``query`` and ``doc``; fine-tuning the
query side only leaves the document encoder, and so the index, untouched: the setting of JPQ, Zhan et al. 2021).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..progress import Progress


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[B, T, H]`` token states and ``[B, T]`` attention mask -> ``[B, H]`` mean over the unmasked tokens
    (a row with no unmasked token gives zeros)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)                         # [B, T, 1]
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)           # [B, H]


def embed(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
          normalize: bool = True) -> torch.Tensor:
    """The bi-encoder's vectors of a tokenized batch: ``[B, H]``, unit length when ``normalize``."""
    out = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state   # [B, T, H]
    v = mean_pool(out, attention_mask)
    return nn.functional.normalize(v, p=2, dim=-1) if normalize else v


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so padding is small."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass
class BiEncoder:
    """A tokenizer with a query encoder and a document encoder (the same module until one is trained apart)."""

    tokenizer: object
    query: nn.Module
    doc: nn.Module
    normalize: bool = True

    @classmethod
    def load(cls, directory: str | Path, normalize: bool = True) -> "BiEncoder":
        """The checkpoint in ``directory`` (config.json, model.safetensors, the tokenizer), offline."""
        from transformers import AutoModel, AutoTokenizer

        model = AutoModel.from_pretrained(str(directory), local_files_only=True)
        model.eval()
        tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        return cls(tok, model, model, normalize)

    def split(self) -> "BiEncoder":
        """Give the query side its own copy of the weights (before training or pruning it alone)."""
        if self.query is self.doc:
            self.query = copy.deepcopy(self.doc)
        return self

    @property
    def dim(self) -> int:
        return int(self.doc.config.hidden_size)

    def tokenize(self, texts: Sequence[str], max_tokens: int) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_tokens,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def embed_grouped(self, model: nn.Module, texts: Sequence[str], max_tokens: int, group: int) -> torch.Tensor:
        """``[N, H]`` vectors of ``texts`` in input order, with gradients: encoded in length-sorted groups of
        ``group`` texts (each padded to its own longest), so a training batch of mixed lengths is not padded to
        its longest text; the same vectors as one padded batch, up to floating-point rounding."""
        ids = self.tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
        lengths = [len(x) for x in ids]
        parts, order = [], []
        for idx in length_sorted_batches(lengths, group):
            t = self.tokenize([texts[i] for i in idx], max_tokens)
            parts.append(embed(model, t["input_ids"], t["attention_mask"], self.normalize))
            order.extend(idx)
        return torch.cat(parts)[torch.argsort(torch.tensor(order))]

    def encode(self, texts: Sequence[str], side: str = "doc", *, max_tokens: int = 128, batch_size: int = 64,
               label: str | None = None) -> np.ndarray:
        """``[N, H]`` float32 vectors of ``texts`` in input order, encoded without gradients in length-sorted
        batches; ``side`` is ``doc`` or ``query``; progress lines under ``label``."""
        if side not in ("doc", "query"):
            raise ValueError(f"side = {side!r}; expected 'doc' or 'query'")
        model = self.doc if side == "doc" else self.query
        was_training = model.training
        model.eval()
        lengths = [len(ids) for ids in self.tokenizer(list(texts), truncation=True, max_length=max_tokens,
                                                       add_special_tokens=True)["input_ids"]]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        batches = length_sorted_batches(lengths, batch_size)
        prog = Progress(label or f"encode {side}s", total=len(texts), unit="text") if label is not False else None
        done = 0
        with torch.inference_mode():
            for idx in batches:
                enc = self.tokenize([texts[i] for i in idx], max_tokens)
                out[idx] = embed(model, enc["input_ids"], enc["attention_mask"], self.normalize).float().numpy()
                done += len(idx)
                if prog is not None:
                    prog.step(done)
        model.train(was_training)
        return out


def timed_encode(enc: BiEncoder, texts: Sequence[str], side: str, **kw: object) -> tuple[np.ndarray, float]:
    """:meth:`BiEncoder.encode` and the seconds it took."""
    t0 = time.perf_counter()
    v = enc.encode(texts, side, **kw)  # type: ignore[arg-type]
    return v, time.perf_counter() - t0


__all__ = ["BiEncoder", "embed", "length_sorted_batches", "mean_pool", "timed_encode"]
