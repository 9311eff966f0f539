"""JPQ: jointly optimising the query encoder and the PQ centroids (Zhan, Mao, Liu, Guo, Zhang & Ma 2021,
"Jointly Optimizing Query Encoder and Product Quantization to Improve Retrieval Performance", CIKM).

The index is a PQ index (:mod:`irprune.dense.index`) whose document codes stay fixed.  Training starts from the
PQ centroids learned by k-means (faiss) and from the query encoder, and updates both with a ranking loss:

* a query's score for document ``d`` is the asymmetric PQ score ``s(q, d) = sum_m <q_m, C_m[code_m(d)]>``
  (:func:`pq_scores`), differentiable in the query vector and in the centroids ``C``;
* negatives are retrieved from the PQ index itself with the current query encoder and centroids (the paper's
  "training-time retrieval": the top ``negatives`` documents that are not judged positive);
* the loss is the paper's pairwise ranking loss, RankNet's ``log(1 + exp(s_neg - s_pos))`` weighted per pair by
  ``|1/r_pos - 1/r_neg|``, the change in reciprocal rank when the two swap (LambdaRank-style weighting; Burges
  2010); ``loss: ce`` uses the softmax cross-entropy over the positive and the negatives instead.

The centroids have their own learning rate (``centroid_lr``); the checkpoint is chosen on dev as in
:mod:`irprune.dense.train` (step 0 = the starting index with the starting query encoder).  Started from an OPQ
index (:func:`irprune.dense.index.train_opq`, as the paper's code starts), the query vectors are rotated by the
index's fixed ``R`` before they meet the centroids.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..progress import Progress
from .encoder import BiEncoder, embed
from .index import PQCodebook
from .train import (FinetuneResult, TrainingPairs, linear_warmup, optimizer_step, select_checkpoint,
                    shuffled_batches)


def pq_scores(q: torch.Tensor, centroids: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """ADC scores ``[B, N]`` of queries ``q`` ``[B, D]`` against documents with ``codes`` ``[N, M]`` under
    ``centroids`` ``[M, K, D/M]``: ``sum_m <q_m, C_m[codes[n, m]]>``."""
    m, k, dsub = centroids.shape
    table = torch.einsum("bmd,mkd->bmk", q.view(q.shape[0], m, dsub), centroids)     # [B, M, K]
    flat = table.reshape(q.shape[0], m * k)                                         # [B, M K]
    idx = (codes + torch.arange(m, device=codes.device) * k).reshape(-1)            # [N M]
    return flat[:, idx].view(q.shape[0], codes.shape[0], m).sum(-1)                 # [B, N]


def ranking_loss(pos: torch.Tensor, neg: torch.Tensor, pos_rank: torch.Tensor, neg_rank: torch.Tensor,
                 kind: str = "lambda") -> torch.Tensor:
    """``pos`` ``[B]`` and ``neg`` ``[B, n]`` scores; ranks (1-based, in the current retrieval) of each.

    ``lambda``: ``mean_b sum_j |1/r_pos - 1/r_neg_j| log(1 + exp(neg_bj - pos_b))`` (JPQ's loss);
    ``ce``: ``-log softmax([pos, neg])[0]``."""
    if kind == "ce":
        logits = torch.cat([pos[:, None], neg], dim=1)
        return nn.functional.cross_entropy(logits, torch.zeros(len(pos), dtype=torch.long))
    if kind != "lambda":
        raise ValueError(f"JPQ loss {kind!r}: expected 'lambda' or 'ce'")
    w = (1.0 / pos_rank[:, None].float() - 1.0 / neg_rank.float()).abs()              # [B, n]
    return (w * nn.functional.softplus(neg - pos[:, None])).sum(1).mean()


def jpq_loss(q: torch.Tensor, cent: torch.Tensor, codes: torch.Tensor, pos_rows: torch.Tensor,
             positives: list[list[int]], negatives: int, sampled: int = 0, kind: str = "lambda",
             gen: torch.Generator | None = None) -> torch.Tensor:
    """JPQ's loss for query vectors ``q`` ``[B, D]`` whose positives are rows ``pos_rows`` ``[B]``: retrieve the
    top ``negatives`` documents of the current PQ index (no gradient; every judged positive of the query in
    ``positives`` excluded), keep ``sampled`` of them at random (0 = all), then :func:`ranking_loss` on the PQ
    scores of the positive and those negatives (gradient into ``q`` and ``cent``)."""
    b = q.shape[0]
    with torch.no_grad():                        # training-time retrieval from the current PQ index
        full = pq_scores(q.detach(), cent.detach(), codes)                                 # [B, N]
        for bi, rows in enumerate(positives):
            full[bi, rows] = -math.inf
        neg_scores, neg_rows = full.topk(negatives, dim=1)                                 # [B, n], by rank
        pos_s = pq_scores(q.detach(), cent.detach(), codes[pos_rows]).diagonal()          # [B]
        pos_rank = 1 + (neg_scores > pos_s[:, None]).sum(1)                                # 1-based
        neg_rank = torch.arange(1, negatives + 1)[None, :] + (neg_scores <= pos_s[:, None]).long()
        if 0 < sampled < negatives:
            keep = torch.rand(b, negatives, generator=gen).argsort(1)[:, :sampled]         # [B, s]
            neg_rows, neg_rank = neg_rows.gather(1, keep), neg_rank.gather(1, keep)
    n = neg_rows.shape[1]
    m, k, dsub = cent.shape
    sel = codes[torch.cat([pos_rows[:, None], neg_rows], dim=1).reshape(-1)].view(b, 1 + n, m)   # [B, 1+n, M]
    table = torch.einsum("bmd,mkd->bmk", q.view(b, m, dsub), cent).reshape(b, m * k)      # [B, M K]
    idx = (sel + torch.arange(m) * k).view(b, (1 + n) * m)                                  # [B, (1+n) M]
    s = table.gather(1, idx).view(b, 1 + n, m).sum(-1)
    return ranking_loss(s[:, 0], s[:, 1:], pos_rank, neg_rank, kind)                        # s: [B, 1+n]


@dataclass
class JPQResult(FinetuneResult):
    centroids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))


def train_jpq(enc: BiEncoder, book: PQCodebook, pairs: TrainingPairs, cfg: Any,
              evaluate_dev: Callable[[BiEncoder, np.ndarray], float] | None, *, query_max_tokens: int,
              label: str = "jpq", rotation: np.ndarray | None = None) -> JPQResult:
    """Train ``enc.query`` and the centroids of ``book`` jointly (codes fixed) for ``cfg.steps`` steps; ``cfg``
    has ``steps batch_size lr centroid_lr warmup_steps negatives loss eval_every selection seed``.  ``rotation``:
    the ``[D, D]`` OPQ rotation of the index (query vectors are scored as ``R q``; ``None`` = plain PQ).

    ``evaluate_dev(enc, centroids)`` returns the dev metric of the PQ index with those centroids.  Returns the
    selected centroids (the query encoder's selected weights are left in ``enc.query``).
    """
    enc.split()
    model = enc.query
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    codes = torch.from_numpy(book.codes.astype(np.int64))
    cent = nn.Parameter(torch.from_numpy(book.centroids.copy()))
    frozen = cfg.lr == 0            # centroids only: the query vectors are computed once
    groups = [] if frozen else [{"params": [p for p in model.parameters() if p.requires_grad], "lr": cfg.lr}]
    opt = torch.optim.AdamW(groups + [{"params": [cent], "lr": cfg.centroid_lr}], weight_decay=0.0)
    base = ([] if frozen else [cfg.lr]) + [cfg.centroid_lr]
    rot_t = None if rotation is None else torch.from_numpy(np.ascontiguousarray(rotation.T, dtype=np.float32))
    fixed_q = (torch.from_numpy(enc.encode(pairs.texts, "query", max_tokens=query_max_tokens, batch_size=128,
                                           label=False)) if frozen else None)
    if fixed_q is not None and rot_t is not None:
        fixed_q = fixed_q @ rot_t
    history: list[dict[str, float]] = []
    best: tuple[float, int, Any, Any] = (-math.inf, 0, None, None)
    prog = Progress(label, total=cfg.steps)

    def consider(step: int) -> None:
        nonlocal best
        if evaluate_dev is None:
            return
        value = evaluate_dev(enc, cent.detach().numpy())
        history.append({"step": step, "dev": value})
        prog.note(f"step {step}: dev {value:.4f}")
        if cfg.selection == "best" and value > best[0]:
            best = (value, step, copy.deepcopy(model.state_dict()), cent.detach().clone())

    t0 = time.perf_counter()
    model.eval()
    consider(0)
    batches = shuffled_batches(len(pairs), cfg.batch_size, rng)
    model.train()
    for step in range(1, cfg.steps + 1):
        batch = next(batches)
        pos_rows = torch.tensor([rng.choice(pairs.positives[i]) for i in batch])
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * linear_warmup(step - 1, cfg.warmup_steps, cfg.steps)
        if fixed_q is not None:
            q = fixed_q[batch]
        else:
            enc_in = enc.tokenize([pairs.texts[i] for i in batch], query_max_tokens)
            q = embed(model, enc_in["input_ids"], enc_in["attention_mask"], enc.normalize)  # [B, D]
            if rot_t is not None:
                q = q @ rot_t                                                               # R q
        loss = jpq_loss(q, cent, codes, pos_rows, [pairs.positives[i] for i in batch], cfg.negatives,
                        cfg.sampled, cfg.loss, gen)
        optimizer_step(opt, loss, step, cfg, model, history, prog, consider)
    train_s = time.perf_counter() - t0
    selected, dev, restored = select_checkpoint(model, cfg, best, history)
    centroids = best[3].numpy() if restored else cent.detach().numpy().copy()
    return JPQResult(cfg.steps, selected, dev, history, train_s, centroids)


__all__ = ["JPQResult", "jpq_loss", "pq_scores", "ranking_loss", "train_jpq"]
