"""Dev evaluation during training: re-rank BM25 candidates of (a fixed subset of) the dev queries, score one
metric.  Used by :class:`~irprune.training.trainer.Trainer` for early stopping and checkpoint selection.

Selection sees the ranking the train stage reports: the top ``train.eval_depth`` candidates re-ranked and the rest
in BM25 order (``rerank(..., keep_rest=True)``), so a selection metric with a cut-off deeper than the re-ranked
depth (MAP, recall@100) is the reported one."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Mapping

import torch
from torch import nn

from ..data.types import Qrels
from ..evaluation import EvalConfig, evaluate
from ..rerank import rerank
from ..runs import Run, qid_key


def weights_digest(model: nn.Module) -> str:
    """A hash of every tensor of ``model``'s state (names, shapes, dtypes and bytes): equal digests, equal weights."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class DevEvaluator:
    """``evaluator(model) -> {metric: value}`` on the first ``n_queries`` judged dev queries (id order), each
    re-ranking its top ``depth`` candidates (the rest follow in first-stage order, as in the reported runs).
    ``eval_cfg`` supplies the relevance level."""

    def __init__(self, queries: Mapping[str, str], qrels: Qrels, corpus: Mapping[str, str],
                 candidates: Mapping[str, Mapping[str, float]], eval_cfg: EvalConfig, metric: str, *,
                 depth: int = 100, n_queries: int | None = None, batch_size: int = 256) -> None:
        judged = sorted((q for q in qrels if qrels[q] and q in queries), key=qid_key)
        if not judged:
            raise ValueError("DevEvaluator: the dev split has no judged query; early stopping needs dev qrels "
                             "(set data.splits.dev_from_test > 0 for collections with only test judgements)")
        keep = judged[:n_queries] if n_queries else judged
        self.queries = {q: queries[q] for q in keep}
        self.qrels = {q: qrels[q] for q in keep}
        self.candidates = {q: candidates.get(q, {}) for q in keep}
        self.corpus = corpus
        names = tuple(dict.fromkeys((metric, *eval_cfg.metrics)))   # configured metrics + the selection one
        self.cfg = dataclasses.replace(eval_cfg, metrics=names)
        self.metric, self.depth, self.batch_size = metric, depth, batch_size
        self._runs: dict[str, Run] = {}

    def __call__(self, model: nn.Module) -> dict[str, float]:
        run = rerank(model, self.queries, self.corpus, self.candidates, depth=self.depth,  # type: ignore[arg-type]
                     keep_rest=True, batch_size=self.batch_size)
        self._runs[weights_digest(model)] = run
        return dict(evaluate(self.qrels, run, self.cfg).aggregate)

    def run_of(self, model: nn.Module) -> Run | None:
        """The run of an earlier evaluation of exactly ``model``'s weights (the selected step's, once the trainer
        restored them), so the stage need not re-rank the same queries again; None if there was none."""
        return self._runs.get(weights_digest(model))


__all__ = ["DevEvaluator", "weights_digest"]
