"""The classification task bundle: config, data loading, encoding, training loss, evaluation, MAC example."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...config import frozen, param
from ...errors import ConfigError
from ...models.device import select_device
from ...pruning.scorers import ScoreContext
from ...text.vocab import Vocab, VocabConfig
from ..common import TaskTrainConfig, minibatches
from ..prune import math_attention, synflow_forward
from .data import AG_NEWS_CLASSES, AG_NEWS_HF, ClassificationData, load_ag_news_hf, read_ag_news_csv, \
    stratified_split
from .metrics import accuracy, macro_f1
from .models import CLASSIFIERS, EmbeddingBagConfig, TransformerClassifierConfig
from .synthetic import SyntheticClassificationConfig, make_topic_corpus


@frozen
class ClassificationTaskConfig:
    """``tasks.classification`` in ``params.yaml``."""

    source: Literal["synthetic", "ag_news_csv", "ag_news_hf"] = param(
        "synthetic", doc="synthetic (offline default) | ag_news_csv (a local AG News CSV, split with split_seed) | "
                         "ag_news_hf (the Hub's ag_news; needs the network)")
    csv_path: str = param("", doc="AG News CSV for source=ag_news_csv (e.g. ../shared/data/ag-news/test.csv)")
    hf_name: str = param(AG_NEWS_HF, nonempty=True)
    test_fraction: float = param(0.2, gt=0, lt=1, doc="ag_news_csv: fraction per class held out as test")
    split_seed: int = param(0, ge=0)
    max_train: Optional[int] = param(None, ge=1, doc="use at most this many training examples (seeded subset)")
    max_test: Optional[int] = param(None, ge=1, doc="evaluate on at most this many test examples")
    synthetic: SyntheticClassificationConfig = param(SyntheticClassificationConfig)
    min_freq: int = param(1, ge=1, doc="vocabulary: drop words seen fewer times in the training texts")
    max_vocab: Optional[int] = param(30000, ge=3, doc="vocabulary size cap (specials included)")
    max_len: int = param(64, ge=1, doc="tokens kept per text")
    models: tuple[Literal["embedding_bag", "transformer"], ...] = param(("embedding_bag", "transformer"),
                                                                         nonempty=True)
    embedding_bag: EmbeddingBagConfig = param(EmbeddingBagConfig)
    transformer: TransformerClassifierConfig = param(TransformerClassifierConfig)
    train: TaskTrainConfig = param(TaskTrainConfig)

    def validate(self) -> None:
        if self.source == "ag_news_csv" and not self.csv_path:
            raise ConfigError("params.yaml: tasks.classification.csv_path is empty but source = 'ag_news_csv'; "
                              "set it to an AG News CSV file (class,title,description)")


def load_classification_data(cfg: ClassificationTaskConfig) -> ClassificationData:
    """The train/test data for ``cfg.source``."""
    if cfg.source == "synthetic":
        data = make_topic_corpus(cfg.synthetic)
    elif cfg.source == "ag_news_csv":
        full = read_ag_news_csv(Path(cfg.csv_path))
        train, test = stratified_split(full, cfg.test_fraction, cfg.split_seed)
        data = ClassificationData(train, test, AG_NEWS_CLASSES,
                                  {"source": f"csv:{cfg.csv_path}", "split_seed": cfg.split_seed})
    else:
        data = load_ag_news_hf(cfg.hf_name)
    rng = np.random.default_rng(cfg.split_seed)
    if cfg.max_train is not None and len(data.train) > cfg.max_train:
        keep = np.sort(rng.choice(len(data.train), cfg.max_train, replace=False))
        data = ClassificationData(type(data.train)(tuple(data.train.texts[i] for i in keep),
                                                   tuple(data.train.labels[i] for i in keep)),
                                  data.test, data.label_names, data.meta)
    if cfg.max_test is not None and len(data.test) > cfg.max_test:
        data = ClassificationData(data.train, type(data.test)(data.test.texts[: cfg.max_test],
                                                              data.test.labels[: cfg.max_test]),
                                  data.label_names, data.meta)
    return data


class ClassificationTask:
    """Text classification: cross-entropy training, accuracy and macro-F1 on the test split."""

    task = "classification"
    primary_metric = "accuracy"
    metric_names = ("accuracy", "macro_f1")

    def __init__(self, cfg: ClassificationTaskConfig = ClassificationTaskConfig(),
                 data: ClassificationData | None = None) -> None:
        self.cfg = cfg
        self.models = tuple(cfg.models)
        self.device = select_device(cfg.train.device)
        self.data = load_classification_data(cfg) if data is None else data
        self.vocab = Vocab.build(self.data.train.texts, VocabConfig(min_freq=cfg.min_freq, max_size=cfg.max_vocab))
        self.train_ids = [self._encode(t) for t in self.data.train.texts]
        self.test_ids = [self._encode(t) for t in self.data.test.texts]
        self.train_examples = list(zip(self.train_ids, self.data.train.labels))
        lengths = [len(x) for x in self.test_ids]
        self.typical_len = max(1, int(round(float(np.mean(lengths))))) if lengths else 1

    def _encode(self, text: str) -> list[int]:
        return self.vocab.encode(text, self.cfg.max_len) or [self.vocab.unk_id]

    def describe(self) -> dict[str, Any]:
        d = self.data
        return {"task": self.task, "source": d.meta.get("source"), "n_train": len(d.train), "n_test": len(d.test),
                "n_classes": d.n_classes, "vocab_size": len(self.vocab), "typical_len": self.typical_len,
                "train_class_counts": d.train.counts(d.n_classes), "test_class_counts": d.test.counts(d.n_classes),
                **{k: v for k, v in d.meta.items() if k != "source"}}

    def build_model(self, model: str, seed: int) -> nn.Module:
        cls, _ = CLASSIFIERS.get(model)
        torch.manual_seed(seed)
        sub = getattr(self.cfg, model)
        kwargs = {"max_len": self.cfg.max_len} if model == "transformer" else {}
        return cls(len(self.vocab), self.data.n_classes, sub, **kwargs).to(self.device)

    def collate(self, examples: Sequence[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _ in examples)
        ids = torch.zeros(len(examples), width, dtype=torch.long)
        for i, (row, _) in enumerate(examples):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        labels = torch.tensor([y for _, y in examples], dtype=torch.long)
        return {"ids": ids.to(self.device), "labels": labels.to(self.device)}

    def batches(self, epoch: int, seed: int) -> list[dict[str, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed * 1000003 + epoch)
        return [self.collate(b) for b in minibatches(self.train_examples, self.cfg.train.batch_size, g)]

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(model(batch["ids"]), batch["labels"])

    def score_context(self, seed: int, n_batches: int) -> ScoreContext:
        ones = torch.ones(1, self.typical_len, dtype=torch.long, device=self.device)
        return ScoreContext(batches=self.batches(0, seed)[:n_batches],
                            forward_fn=math_attention(lambda m, b: m(b["ids"])),
                            criterion=lambda out, b: F.cross_entropy(out, b["labels"]),
                            forward_ones=synflow_forward(lambda m: m(ones)), seed=seed)

    @torch.no_grad()
    def predict(self, model: nn.Module, batch_size: int = 256) -> list[int]:
        model.eval()
        out: list[int] = []
        examples = list(zip(self.test_ids, self.data.test.labels))
        for s in range(0, len(examples), batch_size):
            out.extend(model(self.collate(examples[s: s + batch_size])["ids"]).argmax(-1).tolist())
        return out

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        pred, gold = self.predict(model), list(self.data.test.labels)
        return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred, self.data.n_classes)}

    def mac_example(self) -> Callable[[nn.Module], object]:
        """One example of the test set's mean length (ids of ``[UNK]``, never pad)."""
        ids = torch.full((1, self.typical_len), self.vocab.unk_id, dtype=torch.long, device=self.device)
        return lambda m: m(ids)


__all__ = ["ClassificationTaskConfig", "ClassificationTask", "load_classification_data"]
