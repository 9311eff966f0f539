"""Greedy and beam-search decoding for :class:`~.model.Seq2SeqTransformer`.

Beam search keeps the ``k`` best unfinished hypotheses by summed log-probability; a hypothesis that emits
``<eos>`` is finished and ranked by the length-normalised score ``logp / lp(len)`` with the GNMT penalty
``lp(n) = ((5 + n) / 6) ** alpha`` (Wu et al., 2016, "Google's neural machine translation system", Eq. 14;
``alpha = 0`` is no normalisation).  Search stops when ``k`` hypotheses have finished or ``max_len`` tokens have
been generated (then unfinished ones compete too).  With ``k = 1`` every step keeps the argmax token, which is
greedy decoding (a test checks the two agree token for token).
"""

from __future__ import annotations

import torch

from ...config import frozen, param
from .model import Seq2SeqTransformer

BOS, EOS, PAD = 2, 3, 0


@frozen
class DecodeConfig:
    beam_size: int = param(1, ge=1, doc="1 = greedy decoding")
    length_penalty: float = param(0.6, ge=0, doc="GNMT alpha (Wu et al., 2016); 0 = none")
    max_len_a: float = param(1.5, ge=0, doc="generate at most a * source_length + b tokens")
    max_len_b: int = param(5, ge=1)
    batch_size: int = param(128, ge=1, doc="sentences per greedy decoding batch")


@torch.no_grad()
def greedy_decode(model: Seq2SeqTransformer, src: torch.Tensor, max_len: int) -> list[list[int]]:
    """Argmax decoding of a padded source batch ``[B, S]``; returns token ids without ``<bos>``/``<eos>``."""
    model.eval()
    src_pad = src == PAD
    memory = model.encode(src)
    ys = torch.full((src.shape[0], 1), BOS, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        nxt = model.decode(ys, memory, src_pad)[:, -1].argmax(-1)
        nxt = nxt.masked_fill(done, PAD)
        ys = torch.cat([ys, nxt[:, None]], dim=1)
        done |= nxt == EOS
        if bool(done.all()):
            break
    return [_strip(row) for row in ys[:, 1:].tolist()]


def _strip(ids: list[int]) -> list[int]:
    out = []
    for i in ids:
        if i in (EOS, PAD):
            break
        out.append(i)
    return out


def _lp(n: int, alpha: float) -> float:
    return ((5.0 + n) / 6.0) ** alpha


@torch.no_grad()
def beam_decode(model: Seq2SeqTransformer, src: torch.Tensor, max_len: int, beam_size: int = 4,
                length_penalty: float = 0.6) -> list[int]:
    """Beam search for one source sentence ``[1, S]`` (or ``[S]``); returns the best hypothesis' ids."""
    model.eval()
    if src.dim() == 1:
        src = src[None]
    memory = model.encode(src)
    src_pad = src == PAD
    hyps = torch.full((1, 1), BOS, dtype=torch.long, device=src.device)
    scores = torch.zeros(1, device=src.device)
    finished: list[tuple[float, list[int]]] = []
    for step in range(max_len):
        n = hyps.shape[0]
        logp = model.decode(hyps, memory.expand(n, -1, -1), src_pad.expand(n, -1))[:, -1].log_softmax(-1)
        cand = (scores[:, None] + logp).flatten()
        top = cand.topk(min(2 * beam_size, cand.numel()))
        vocab = logp.shape[1]
        keep_rows, keep_tok, keep_score = [], [], []
        for s, idx in zip(top.values.tolist(), top.indices.tolist()):
            row, tok = divmod(idx, vocab)
            if tok == EOS:
                finished.append((s / _lp(step + 1, length_penalty), hyps[row, 1:].tolist()))
                if len(finished) >= beam_size:
                    break
            else:
                keep_rows.append(row)
                keep_tok.append(tok)
                keep_score.append(s)
                if len(keep_rows) == beam_size:
                    break
        if len(finished) >= beam_size or not keep_rows:
            break
        rows = torch.tensor(keep_rows, device=src.device)
        hyps = torch.cat([hyps[rows], torch.tensor(keep_tok, device=src.device)[:, None]], dim=1)
        scores = torch.tensor(keep_score, device=src.device)
    else:
        for s, h in zip(scores.tolist(), hyps[:, 1:].tolist()):
            finished.append((s / _lp(len(h), length_penalty), h))
    if not finished:  # max_len == 0
        return []
    return max(finished, key=lambda x: x[0])[1]


def translate(model: Seq2SeqTransformer, sources: list[list[int]], cfg: DecodeConfig,
              device: torch.device | str) -> list[list[int]]:
    """Decode every encoded source (ids ending in ``<eos>``) with ``cfg``; returns target ids."""
    out: list[list[int]] = []
    if cfg.beam_size == 1:
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        res: dict[int, list[int]] = {}
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s: s + cfg.batch_size]
            width = max(len(sources[i]) for i in idx)
            src = torch.zeros(len(idx), width, dtype=torch.long)
            for r, i in enumerate(idx):
                src[r, : len(sources[i])] = torch.tensor(sources[i])
            max_len = int(cfg.max_len_a * width + cfg.max_len_b)
            for i, hyp in zip(idx, greedy_decode(model, src.to(device), max_len)):
                res[i] = hyp
        return [res[i] for i in range(len(sources))]
    for ids in sources:
        src = torch.tensor(ids, dtype=torch.long, device=device)[None]
        out.append(beam_decode(model, src, int(cfg.max_len_a * len(ids) + cfg.max_len_b), cfg.beam_size,
                               cfg.length_penalty))
    return out


__all__ = ["DecodeConfig", "greedy_decode", "beam_decode", "translate"]
