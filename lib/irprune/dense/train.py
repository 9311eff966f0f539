"""Fine-tuning the bi-encoder: its query encoder against fixed document vectors, or both sides; distilled from a
trained re-ranker.

Contrastive loss (InfoNCE; van den Oord et al. 2018, as in DPR, Karpukhin et al. 2020, EMNLP): for a batch of
``B`` training queries, each with one sampled positive and ``n`` negatives sampled from BM25's top
``bm25_depth`` (judged positives excluded), the candidates are all ``B (1 + n)`` documents of the batch (in-batch
negatives plus every query's BM25 negatives); the loss is the cross-entropy of the query's own positive under
``softmax(<q, d> / temperature)``, with the batch's other positives of the same query masked out.

By default only the query encoder is trained: the document vectors (and so any index built on them, flat or PQ)
stay as encoded once, which is what makes training cheap on CPU and what JPQ (Zhan et al. 2021) relies on too.
``side: both`` trains the one shared encoder on queries and documents (each step encodes the batch's candidate
documents with gradients; every dev evaluation re-encodes the corpus), about ten times the cost per step.

With a teacher (a trained re-ranker's scores of each training query's positives and of a seeded pool of its BM25
negatives, :func:`teacher_scores`), the loss adds ``distill_weight`` times the KL divergence from the teacher's
softmax over the query's own candidates (its positive and its sampled negatives, at ``teacher_temperature``) to
the student's (at ``temperature``): the cross-encoder-to-bi-encoder distillation of ColBERTv2 (Santhanam et al.
2022, NAACL) and RocketQAv2 (Ren et al. 2021, EMNLP), which also grades the BM25 negatives the labels leave
unjudged.  The
checkpoint is chosen on dev (``selection: best``: the highest dev metric among step 0, i.e. the starting encoder,
every ``eval_every`` steps, and the end; ties the earliest), so the result is never below its starting point on
dev.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..progress import Progress
from .encoder import BiEncoder, embed


@dataclass
class TrainingPairs:
    """Training queries with their positives and BM25 negatives, as row numbers of the document matrix."""

    texts: list[str]
    positives: list[list[int]]
    negatives: list[list[int]]
    teacher: list[dict[int, float]] | None = None    # per query: row -> teacher score (positives and negatives)

    def __len__(self) -> int:
        return len(self.texts)



def shuffled_batches(n: int, batch_size: int, rng: random.Random) -> Iterator[list[int]]:
    """Endless batches of ``batch_size`` indices of ``range(n)``: a seeded shuffle, walked in order, reshuffled
    when fewer than ``batch_size`` remain (the tail is dropped)."""
    order = list(range(n))
    rng.shuffle(order)
    cursor = 0
    while True:
        if cursor + batch_size > len(order):
            rng.shuffle(order)
            cursor = 0
        yield order[cursor:cursor + batch_size]
        cursor += batch_size

def training_pairs(queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]],
                   candidates: Mapping[str, Mapping[str, float]] | None, doc_row: Mapping[str, int],
                   bm25_depth: int) -> TrainingPairs:
    """Queries with at least one positive (label > 0) in the corpus; negatives = their top ``bm25_depth``
    candidates that are not judged positive (none without candidates)."""
    from ..runs import sort_ranking

    texts, pos, neg = [], [], []
    for q in sorted(queries):
        p = [doc_row[d] for d, lab in sorted(qrels.get(q, {}).items()) if lab > 0 and d in doc_row]
        if not p:
            continue
        ranked = [d for d, _ in sort_ranking(candidates.get(q, {}))][:bm25_depth] if candidates else []
        judged = set(qrels.get(q, {}))
        texts.append(queries[q])
        pos.append(p)
        neg.append([doc_row[d] for d in ranked if d not in judged and d in doc_row])
    return TrainingPairs(texts, pos, neg)


def teacher_scores(pairs: TrainingPairs, doc_texts: Sequence[str],
                   score: Callable[[list[tuple[str, str]]], list[float]], pool: int, seed: int) -> TrainingPairs:
    """``pairs`` with a teacher: every positive and ``pool`` negatives per query (a seeded sample of its BM25
    negatives, which from then on are the only ones drawn) scored by ``score([(query, document), ...])``."""
    rng = random.Random(seed)
    negatives = [rng.sample(n, min(pool, len(n))) for n in pairs.negatives]
    rows = [(i, r) for i in range(len(pairs)) for r in dict.fromkeys(pairs.positives[i] + negatives[i])]
    scores = score([(pairs.texts[i], doc_texts[r]) for i, r in rows])
    teacher: list[dict[int, float]] = [{} for _ in range(len(pairs))]
    for (i, r), s in zip(rows, scores):
        teacher[i][r] = float(s)
    return TrainingPairs(pairs.texts, pairs.positives, negatives, teacher)


def distillation_loss(q: torch.Tensor, cand: torch.Tensor, groups: Sequence[Sequence[int]],
                      targets: Sequence[Sequence[float]], temperature: float,
                      teacher_temperature: float) -> torch.Tensor:
    """Mean over queries of ``KL(softmax(t / teacher_temperature) || softmax(<q, d> / temperature))`` over each
    query's own candidates: ``groups[b]`` the columns of ``cand`` of query ``b``, ``targets[b]`` their teacher
    scores."""
    losses = []
    for b, (cols, t) in enumerate(zip(groups, targets)):
        if len(cols) < 2:
            continue
        s = cand[list(cols)] @ q[b] / temperature
        p = torch.log_softmax(torch.tensor(t, dtype=s.dtype) / teacher_temperature, 0)
        losses.append(nn.functional.kl_div(torch.log_softmax(s, 0), p, log_target=True, reduction="sum"))
    return torch.stack(losses).mean() if losses else q.sum() * 0.0


def contrastive_loss(q: torch.Tensor, cand: torch.Tensor, target: torch.Tensor, invalid: torch.Tensor,
                     temperature: float) -> torch.Tensor:
    """InfoNCE over a shared candidate set: ``q`` ``[B, H]``, ``cand`` ``[C, H]``, ``target`` ``[B]`` (the column
    of each query's positive), ``invalid`` ``[B, C]`` bool (other positives of the query: excluded)."""
    logits = q @ cand.T / temperature                       # [B, C]
    logits = logits.masked_fill(invalid, float("-inf"))
    return nn.functional.cross_entropy(logits, target)


@dataclass
class FinetuneResult:
    steps: int
    best_step: int
    best_value: float
    history: list[dict[str, float]] = field(default_factory=list)
    train_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "best_step": self.best_step, "best_value": self.best_value,
                "history": self.history, "train_s": self.train_s}


def linear_warmup(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warmup over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))



def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, step: int, cfg: Any, model: nn.Module,
                   history: list[dict], prog: Progress, consider: Callable[[int], None],
                   after_step: Callable[[int], None] | None = None) -> None:
    """One optimizer step of a fine-tuning loop: backward, step, ``after_step`` (e.g. a GMP mask update), the
    loss into ``history`` and the progress line, and ``consider(step)`` (the dev evaluation) every
    ``cfg.eval_every`` steps and at the last one, in eval mode."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if after_step is not None:
        after_step(step)
    history.append({"step": step, "loss": float(loss.detach())})
    prog.step(step, loss=float(loss.detach()))
    if step % cfg.eval_every == 0 or step == cfg.steps:
        model.eval()
        consider(step)
        model.train()


def select_checkpoint(model: nn.Module, cfg: Any, best: tuple, history: list[dict]) -> tuple[int, float, bool]:
    """End of a fine-tuning loop: with ``selection: best`` restore the best dev state ``best = (value, step,
    state_dict, ...)``; returns (selected step, its dev value, whether the best state was restored)."""
    model.eval()
    if cfg.selection == "best" and best[2] is not None:
        model.load_state_dict(best[2])
        return best[1], best[0], True
    return cfg.steps, next((h["dev"] for h in reversed(history) if "dev" in h), float("nan")), False


def finetune_query_encoder(enc: BiEncoder, doc_vecs: np.ndarray, pairs: TrainingPairs, cfg: Any,
                           evaluate_dev: Callable[[BiEncoder], float] | None, *, query_max_tokens: int,
                           after_step: Callable[[int], None] | None = None, label: str = "dense finetune",
                           parameters: Sequence[nn.Parameter] | None = None,
                           doc_texts: Sequence[str] | None = None, doc_max_tokens: int = 128,
                           doc_group: int = 16) -> FinetuneResult:
    """Train ``enc.query`` (split from the document encoder first) for ``cfg.steps`` steps; ``cfg`` has
    ``steps batch_size lr warmup_steps temperature negatives eval_every selection seed`` (:class:`DenseTrainConfig`).

    With ``doc_texts`` (row -> text of ``doc_vecs``' rows) the one shared encoder is trained on both sides (the
    sentence-transformers setting): the batch's candidate documents are encoded with gradients, ``doc_vecs`` is
    unused, and ``evaluate_dev`` must re-encode the corpus itself.  The candidates are encoded in length-sorted
    groups of ``doc_group`` (:meth:`BiEncoder.embed_grouped`): about 1.4x faster on CPU than one batch padded to its
    longest document (``benchmarks/bench_dense_step.py``).

    ``evaluate_dev(enc)`` returns the dev metric (higher is better) used by ``selection: best``; ``after_step(t)``
    runs after every optimizer step (pruning hooks).  The selected weights are left in ``enc.query``.
    """
    both = doc_texts is not None
    if not both:
        enc.split()
    elif enc.query is not enc.doc:
        raise ValueError("training both sides needs one shared encoder (enc.query is enc.doc)")
    model = enc.query
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    docs = torch.from_numpy(np.ascontiguousarray(doc_vecs))
    params = list(parameters) if parameters is not None else [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    history: list[dict[str, float]] = []
    best = (-math.inf, 0, None)

    def consider(step: int) -> None:
        nonlocal best
        if evaluate_dev is None:
            return
        value = evaluate_dev(enc)
        history.append({"step": step, "dev": value})
        prog.note(f"step {step}: dev {value:.4f}")
        if cfg.selection == "best" and value > best[0]:
            best = (value, step, copy.deepcopy(model.state_dict()))

    prog = Progress(label, total=cfg.steps)
    t0 = time.perf_counter()
    consider(0)
    batches = shuffled_batches(len(pairs), cfg.batch_size, rng)
    model.train()
    for step in range(1, cfg.steps + 1):
        batch = next(batches)
        rows: list[int] = []
        target: list[int] = []
        groups: list[list[int]] = []
        for i in batch:
            target.append(len(rows))
            rows.append(rng.choice(pairs.positives[i]))
            pool = pairs.negatives[i]
            if pool and cfg.negatives:
                rows.extend(rng.sample(pool, min(cfg.negatives, len(pool))))
            groups.append(list(range(target[-1], len(rows))))
        cand_rows = torch.tensor(rows)
        invalid = torch.zeros(len(batch), len(rows), dtype=torch.bool)
        for bi, i in enumerate(batch):
            own = set(pairs.positives[i])
            for ci, r in enumerate(rows):
                if r in own and ci != target[bi]:
                    invalid[bi, ci] = True
        enc_in = enc.tokenize([pairs.texts[i] for i in batch], query_max_tokens)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * linear_warmup(step - 1, cfg.warmup_steps, cfg.steps)
        q = embed(model, enc_in["input_ids"], enc_in["attention_mask"], enc.normalize)
        if both:
            cand = enc.embed_grouped(model, [doc_texts[r] for r in rows], doc_max_tokens, doc_group)
        else:
            cand = docs[cand_rows]
        loss = contrastive_loss(q, cand, torch.tensor(target), invalid, cfg.temperature)
        if pairs.teacher is not None and cfg.distill_weight > 0:
            t = [[pairs.teacher[i][rows[c]] for c in g] for i, g in zip(batch, groups)]
            loss = loss + cfg.distill_weight * distillation_loss(q, cand, groups, t, cfg.temperature,
                                                                 cfg.teacher_temperature)
        optimizer_step(opt, loss, step, cfg, model, history, prog, consider, after_step)
    train_s = time.perf_counter() - t0
    selected, dev, _ = select_checkpoint(model, cfg, best, history)
    return FinetuneResult(cfg.steps, selected, dev, history, train_s)


__all__ = ["FinetuneResult", "TrainingPairs", "contrastive_loss", "distillation_loss", "finetune_query_encoder",
           "linear_warmup", "optimizer_step", "select_checkpoint", "teacher_scores", "training_pairs"]
