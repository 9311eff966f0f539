"""The translation task bundle: config, data, teacher-forced training loss, BLEU evaluation, MAC example."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...config import frozen, param
from ...models.device import select_device
from ...pruning.scorers import ScoreContext
from ...registry import Registry
from ..common import TaskTrainConfig, minibatches
from ..prune import math_attention
from .bleu import corpus_bleu
from .data import MULTI30K_HF, ParallelData, SeqVocab, load_multi30k_hf
from .decode import DecodeConfig, translate
from .model import Seq2SeqConfig, Seq2SeqTransformer
from .synthetic import Grammar, GrammarConfig, make_parallel_corpus

TRANSLATORS: Registry[type[nn.Module]] = Registry("translation model")
TRANSLATORS.add("seq2seq", Seq2SeqTransformer)


@frozen
class TranslationTaskConfig:
    """``tasks.translation`` in ``params.yaml``."""

    source: Literal["synthetic", "multi30k_hf"] = param(
        "synthetic", doc="synthetic (offline default grammar) | multi30k_hf (the Hub's Multi30k; needs the network)")
    hf_name: str = param(MULTI30K_HF, nonempty=True)
    src_lang: str = param("de", nonempty=True,
                          doc="multi30k_hf: source column (the GraSP/NLP report translates de -> en)")
    tgt_lang: str = param("en", nonempty=True)
    max_train: Optional[int] = param(None, ge=1, doc="use at most this many training pairs (seeded subset)")
    max_test: Optional[int] = param(None, ge=1, doc="evaluate on at most this many test pairs")
    subset_seed: int = param(0, ge=0)
    synthetic: GrammarConfig = param(GrammarConfig)
    min_freq: int = param(1, ge=1)
    max_vocab: Optional[int] = param(None, ge=5)
    max_len: int = param(64, ge=2, doc="tokens kept per sentence (before <bos>/<eos>)")
    models: tuple[Literal["seq2seq"], ...] = param(("seq2seq",), nonempty=True)
    seq2seq: Seq2SeqConfig = param(Seq2SeqConfig)
    decode: DecodeConfig = param(DecodeConfig)
    bleu_tokenize: Literal["none", "13a"] = param("none", doc="sacrebleu tokenizer on top of our tokens")
    label_smoothing: float = param(0.0, ge=0, lt=1)
    train: TaskTrainConfig = param(TaskTrainConfig(epochs=6, lr=3e-3, batch_size=32))


def load_parallel_data(cfg: TranslationTaskConfig) -> ParallelData:
    data = make_parallel_corpus(cfg.synthetic) if cfg.source == "synthetic" else \
        load_multi30k_hf(cfg.hf_name, cfg.src_lang, cfg.tgt_lang)
    train, test = data.train, data.test
    if cfg.max_train is not None and len(train) > cfg.max_train:
        keep = np.sort(np.random.default_rng(cfg.subset_seed).choice(len(train), cfg.max_train, replace=False))
        train = tuple(train[i] for i in keep)
    if cfg.max_test is not None:
        test = test[: cfg.max_test]
    return ParallelData(train, test, data.src_lang, data.tgt_lang, data.meta)


class TranslationTask:
    """Sequence-to-sequence translation: cross-entropy with teacher forcing, BLEU of decoded test sentences."""

    task = "translation"
    primary_metric = "bleu"
    metric_names = ("bleu",)

    def __init__(self, cfg: TranslationTaskConfig = TranslationTaskConfig(), data: ParallelData | None = None) -> None:
        self.cfg = cfg
        self.models = tuple(cfg.models)
        self.device = select_device(cfg.train.device)
        self.data = load_parallel_data(cfg) if data is None else data
        L = cfg.max_len
        self.src_vocab = SeqVocab.build((s[:L] for s, _ in self.data.train), cfg.min_freq, cfg.max_vocab)
        self.tgt_vocab = SeqVocab.build((t[:L] for _, t in self.data.train), cfg.min_freq, cfg.max_vocab)
        self.train_examples = [(self.src_vocab.encode(s[:L]), self.tgt_vocab.encode(t[:L], bos=True))
                               for s, t in self.data.train]
        self.test_src = [self.src_vocab.encode(s[:L]) for s, _ in self.data.test]
        self.test_refs = [list(t) for _, t in self.data.test]
        self.typical_src = max(1, int(round(float(np.mean([len(x) for x in self.test_src])))))
        self.typical_tgt = max(1, int(round(float(np.mean([len(t) + 1 for t in self.test_refs])))))

    def describe(self) -> dict[str, Any]:
        out = {"task": self.task, "source": self.data.meta.get("source"), "n_train": len(self.data.train),
               "n_test": len(self.data.test), "src_vocab": len(self.src_vocab), "tgt_vocab": len(self.tgt_vocab),
               "typical_src_len": self.typical_src, "typical_tgt_len": self.typical_tgt,
               **{k: v for k, v in self.data.meta.items() if k != "source"}}
        if self.cfg.source == "synthetic":
            out["bleu_word_by_word"] = self.word_by_word_bleu()
        return out

    def word_by_word_bleu(self) -> float:
        """BLEU of the grammar's monotone lexicon-oracle baseline on the test set (synthetic data only)."""
        gr = Grammar(self.cfg.synthetic)
        return corpus_bleu([gr.word_by_word(s) for s, _ in self.data.test], self.test_refs, self.cfg.bleu_tokenize)

    def build_model(self, model: str, seed: int) -> nn.Module:
        cls = TRANSLATORS.get(model)
        torch.manual_seed(seed)
        return cls(len(self.src_vocab), len(self.tgt_vocab), self.cfg.seq2seq).to(self.device)

    def collate(self, examples: Sequence[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        S = max(len(s) for s, _ in examples)
        T = max(len(t) for _, t in examples)
        src = torch.zeros(len(examples), S, dtype=torch.long)
        tgt = torch.zeros(len(examples), T, dtype=torch.long)
        for i, (s, t) in enumerate(examples):
            src[i, : len(s)] = torch.tensor(s)
            tgt[i, : len(t)] = torch.tensor(t)
        return {"src": src.to(self.device), "tgt": tgt.to(self.device)}

    def batches(self, epoch: int, seed: int) -> list[dict[str, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed * 1000003 + epoch)
        return [self.collate(b) for b in minibatches(self.train_examples, self.cfg.train.batch_size, g)]

    def _criterion(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        gold = batch["tgt"][:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=0,
                               label_smoothing=self.cfg.label_smoothing)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._criterion(model(batch["src"], batch["tgt"][:, :-1]), batch)

    def score_context(self, seed: int, n_batches: int) -> ScoreContext:
        src = torch.ones(1, self.typical_src, dtype=torch.long, device=self.device)
        tgt = torch.ones(1, self.typical_tgt, dtype=torch.long, device=self.device)
        return ScoreContext(batches=self.batches(0, seed)[:n_batches],
                            forward_fn=math_attention(lambda m, b: m(b["src"], b["tgt"][:, :-1])),
                            criterion=self._criterion,
                            forward_ones=lambda m: m(src, tgt), seed=seed)

    def translate(self, model: nn.Module) -> list[list[str]]:
        ids = translate(model, self.test_src, self.cfg.decode, self.device)  # type: ignore[arg-type]
        return [self.tgt_vocab.decode(h) for h in ids]

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {"bleu": corpus_bleu(self.translate(model), self.test_refs, self.cfg.bleu_tokenize)}

    def mac_example(self) -> Callable[[nn.Module], object]:
        """One teacher-forced pass over a source and target of the test set's mean lengths (``<unk>`` ids)."""
        src = torch.full((1, self.typical_src), 1, dtype=torch.long, device=self.device)
        tgt = torch.full((1, self.typical_tgt), 1, dtype=torch.long, device=self.device)
        return lambda m: m(src, tgt)


__all__ = ["TranslationTaskConfig", "TranslationTask", "TRANSLATORS", "load_parallel_data"]
