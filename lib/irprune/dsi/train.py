"""Multi-task DSI training (Tay et al. 2022, Sec. 3.1): indexing (document text -> id) and retrieval
(query -> id of a relevant document) examples mixed in every batch, teacher-forced cross-entropy on
``id tokens + EOS``.

Each example of a batch is an indexing example with probability ``r / (1 + r)`` (``r = index_ratio``); documents
and query-document pairs are each visited in a fresh seeded permutation per pass.  An indexing input is the
document's first ``doc_max_tokens`` tokens (``direct``) or a random window of ``chunk_len`` of them redrawn each
time (``chunks``, the paper's "inverted index" representation).  AdamW (Loshchilov & Hutter 2019), linear warmup
then linear decay; the weights only the encoder uses may learn at ``lr * encoder_lr_scale`` (a pretrained encoder
beside a decoder from scratch, :func:`param_groups`).  Checkpoint rule, fixed before training: ``best`` = the
weights with the highest dev metric among the evaluations every ``eval_every`` steps and at the end (earliest on
ties), or ``last``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..data.types import Qrels
from ..evaluation import EvalConfig, evaluate
from ..models.device import select_device
from .config import DSITrainConfig
from .data import TrainExamples
from .model import DSIModel, pad_rows
from .retrieve import hits_at_k, retrieve


@dataclass
class DSITrainResult:
    steps: int
    train_s: float
    eval_s: float
    best_step: int
    best_value: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "train_s": self.train_s, "eval_s": self.eval_s, "best_step": self.best_step,
                "best_value": self.best_value, "history": self.history}


class _Cycler:
    """Endless seeded permutations of ``range(n)``."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng, self.order, self.pos = n, rng, np.empty(0, dtype=np.int64), 0

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            if self.pos >= len(self.order):
                self.order, self.pos = self.rng.permutation(self.n), 0
            m = min(k - len(out), len(self.order) - self.pos)
            out.extend(int(i) for i in self.order[self.pos: self.pos + m])
            self.pos += m
        return out


def make_batch_fn(model: DSIModel, ex: TrainExamples, cfg: DSITrainConfig
                  ) -> Callable[[], dict[str, torch.Tensor]]:
    """A closure drawing the next training batch (deterministic for ``cfg.seed``)."""
    rng = np.random.default_rng(cfg.seed)
    docs = list(ex.doc_tokens)
    dcyc, pcyc = _Cycler(len(docs), rng), _Cycler(max(1, len(ex.pairs)), rng)
    p_index = 1.0 if not ex.pairs else cfg.index_ratio / (1.0 + cfg.index_ratio)
    if not docs or p_index == 0.0 and not ex.pairs:
        raise ValueError("DSI training needs documents to index or retrieval pairs")
    pad = model.tokenizer.pad_id

    def next_batch() -> dict[str, torch.Tensor]:
        n_idx = int(rng.binomial(cfg.batch_size, p_index))
        inputs, targets = [], []
        for i in dcyc.take(n_idx):
            toks = ex.doc_tokens[docs[i]]
            if cfg.doc_repr == "chunks" and len(toks) > cfg.chunk_len:
                s = int(rng.integers(0, len(toks) - cfg.chunk_len + 1))
                toks = toks[s: s + cfg.chunk_len]
            inputs.append(model.input_row(toks))
            targets.append(model.target(docs[i]))
        for i in pcyc.take(cfg.batch_size - n_idx):
            q, d = ex.pairs[i]
            inputs.append(model.input_row(q))
            targets.append(model.target(d))
        ids, mask = pad_rows(inputs, pad)
        labels, lmask = pad_rows(targets, pad)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels.masked_fill(lmask == 0, -100)}

    return next_batch


def param_groups(net: torch.nn.Module, lr: float, encoder_lr_scale: float) -> list[dict[str, Any]]:
    """AdamW groups: the trainable weights only the encoder uses at ``lr * encoder_lr_scale``, the rest (decoder,
    and tensors shared with it such as T5's tied embedding) at ``lr``."""
    if encoder_lr_scale == 1.0:
        return [{"params": [p for p in net.parameters() if p.requires_grad], "lr": lr}]
    shared = {id(p) for p in net.get_decoder().parameters()}
    enc = [p for p in net.get_encoder().parameters() if p.requires_grad and id(p) not in shared]
    enc_ids = {id(p) for p in enc}
    rest = [p for p in net.parameters() if p.requires_grad and id(p) not in enc_ids]
    return [{"params": enc, "lr": lr * encoder_lr_scale}, {"params": rest, "lr": lr}]


def dev_score(model: DSIModel, queries: Mapping[str, str], qrels: Qrels, metric: str, beam_size: int,
              relevance_level: int, query_max_tokens: int, device: torch.device) -> float:
    """The checkpoint-rule metric on dev: ``hits@k`` or any :mod:`irprune.evaluation` metric."""
    run = retrieve(model, queries, beam_size, max_query_tokens=query_max_tokens, device=device)
    if metric.startswith("hits@"):
        return hits_at_k(qrels, run, int(metric[5:]), relevance_level)[0]
    # a second metric works around evaluate() failing on a lone metric with a cut-off (ranx returns a bare value)
    extra = "map" if metric != "map" else "mrr"
    return evaluate(qrels, run, EvalConfig(metrics=(metric, extra), relevance_level=relevance_level)
                    ).aggregate[metric]


def train_dsi(model: DSIModel, ex: TrainExamples, cfg: DSITrainConfig, *, dev: tuple[Mapping[str, str], Qrels] | None
              = None, beam_size: int = 10, relevance_level: int = 1, lr: float | None = None,
              steps: int | None = None, log: Callable[[str], None] | None = print,
              after_step: Callable[[int], Any] | None = None, select_from: int = 0) -> DSITrainResult:
    """Train ``model`` in place; returns timings, the dev history and the selected step (weights restored).

    ``after_step(step)`` runs after every optimizer step (e.g. :meth:`irprune.pruning.GradualPruner.step`);
    ``select_from``: dev evaluations of the checkpoint rule start at this step (GMP: once the mask is final, so
    the selected weights have the target sparsity)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = select_device(cfg.device)
    net = model.net.to(device)
    steps = cfg.steps if steps is None else steps
    lr = cfg.lr if lr is None else lr
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(param_groups(net, lr, cfg.encoder_lr_scale), lr=lr, weight_decay=cfg.weight_decay)
    warm = min(cfg.warmup_steps, max(steps - 1, 0))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / (warm + 1) if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    next_batch = make_batch_fn(model, ex, cfg)
    if dev is not None:
        qs = sorted(q for q in dev[0] if dev[1].get(q))
        qs = qs[: cfg.eval_queries] if cfg.eval_queries else qs
        dev = ({q: dev[0][q] for q in qs}, {q: dev[1][q] for q in qs})
        beam_size = min(beam_size, len(model.docids))
    use_best = cfg.selection == "best" and dev is not None
    best_state: dict[str, torch.Tensor] | None = None
    result = DSITrainResult(steps=steps, train_s=0.0, eval_s=0.0, best_step=steps, best_value=None)
    t_start = time.perf_counter()
    from ..progress import Progress

    bar = Progress("dsi training", total=steps)
    for step in range(1, steps + 1):
        net.train()
        batch = {k: v.to(device) for k, v in next_batch().items()}
        loss = net(**batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        if after_step is not None:
            after_step(step)
        result.losses.append(loss.item())
        bar.step(step, loss=result.losses[-1])
        if use_best and step >= select_from and (step % cfg.eval_every == 0 or step == steps):
            t0 = time.perf_counter()
            assert dev is not None
            value = dev_score(model, dev[0], dev[1], cfg.metric, beam_size, relevance_level, cfg.query_max_tokens,
                              device)
            result.eval_s += time.perf_counter() - t0
            result.history.append({"step": step, cfg.metric: value, "loss": float(np.mean(result.losses[-50:]))})
            if log:
                log(f"step {step}: loss {np.mean(result.losses[-50:]):.4f}, dev {cfg.metric} {value:.4f}")
            if result.best_value is None or value > result.best_value:
                result.best_value, result.best_step = value, step
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif log and step % cfg.eval_every == 0:
            log(f"step {step}: loss {np.mean(result.losses[-50:]):.4f}")
    result.train_s = time.perf_counter() - t_start - result.eval_s
    if best_state is not None and result.best_step != steps:
        net.load_state_dict(best_state)
    net.eval()
    return result


__all__ = ["DSITrainResult", "train_dsi", "make_batch_fn", "dev_score", "param_groups"]
