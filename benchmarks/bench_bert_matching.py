"""How many steps does monoBERT's small shape need to learn exact term matching from scratch?

A ranker that beats BM25 must at least tell whether a query term occurs in a passage.  This benchmark isolates
that skill on an endless stream of fresh random examples (so nothing can be memorised): the input is
``[CLS] a [SEP] p_1 .. p_L [SEP]`` with token ids drawn uniformly from a vocabulary of ``--vocab`` ids, and the
label is 1 when ``a`` occurs among the ``p_j`` (half of the examples, at a random position), else 0.  Binary
cross-entropy on the model's score, AdamW, batch ``--batch``, dropout off by default.

Models:

* ``bert``: ``BertForSequenceClassification`` in the shape of the study's ``small`` monoBERT preset
  (:func:`irprune.models.monobert.bert_config`: 2 layers, H = 128, 2 heads) scored as monoBERT is
  (``l_rel - l_nonrel``), from BERT's initialisation; ``--init mimetic`` starts every attention layer with
  ``W_q = W_k`` (so ``W_q W_k^T`` is a scaled identity per head) and ``W_v W_o = -beta_vo I``
  (Trockman & Kolter 2023, "Mimetic Initialization of Self-Attention Layers", ICML) with
  :func:`irprune.models.bert_init.init_bert_`; ``--position-scale`` multiplies the initial position embeddings
  (the study's pretrain stage uses mimetic + 0.1); ``--readout query_token`` reads the label from the query
  token's output instead of ``[CLS]`` (a dense, per-token signal).
* ``knrm``: K-NRM (Xiong et al. 2017) on the same ids: random word embeddings, the cosine translation matrix
  and the study's :class:`~irprune.models.kernel_pooling.KernelPooling` (11 kernels with the exact-match kernel),
  a linear layer on the log soft-TF features.  The reference: its exact-match kernel sees the answer directly.

It prints the training accuracy over each block of ``--report`` steps and the first block whose accuracy
reaches ``--target``.  Accuracy 0.5 = chance.

    python benchmarks/bench_bert_matching.py --model bert --steps 8000
    python benchmarks/bench_bert_matching.py --model bert --vocab 100 --steps 8000
    python benchmarks/bench_bert_matching.py --model bert --init mimetic --steps 4000
    python benchmarks/bench_bert_matching.py --model bert --init mimetic --position-scale 0.1 --steps 1500
    python benchmarks/bench_bert_matching.py --model bert --init mimetic --position-scale 0.1 --dropout 0.1
    python benchmarks/bench_bert_matching.py --model knrm --steps 500
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import Tensor, nn

SPECIAL = 3  # ids 0, 1, 2 = [PAD], [CLS], [SEP]; words are 3 .. vocab + 2


def make_batch(gen: torch.Generator, batch: int, vocab: int, length: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(query ids [B], passage ids [B, L], labels [B])``: half the passages hold the query token once."""
    q = torch.randint(SPECIAL, vocab + SPECIAL, (batch,), generator=gen)
    p = torch.randint(SPECIAL, vocab + SPECIAL, (batch, length), generator=gen)
    y = torch.rand(batch, generator=gen) < 0.5
    # negatives: replace accidental occurrences of the query token by another word
    other = torch.where(q == SPECIAL, SPECIAL + 1, SPECIAL)
    p = torch.where((p == q[:, None]) & ~y[:, None], other[:, None], p)
    pos = torch.randint(0, length, (batch,), generator=gen)
    rows = torch.nonzero(y).squeeze(1)
    p[rows, pos[rows]] = q[rows]
    return q, p, y.float()


class BertScorer(nn.Module):
    def __init__(self, vocab: int, length: int, dropout: float, init: str, beta_qk: float, beta_vo: float,
                 shape: dict[str, int], readout: str = "cls", position_scale: float = 1.0) -> None:
        super().__init__()
        from transformers import BertForSequenceClassification

        from irprune.models.bert_init import BertInitConfig, init_bert_
        from irprune.models.monobert import MonoBERTConfig, bert_config

        cfg = MonoBERTConfig(dropout=dropout, max_len=max(128, length + 3),
                             **{k: v for k, v in shape.items() if v is not None})
        self.bert = BertForSequenceClassification(bert_config(cfg, vocab + SPECIAL, pad_token_id=0))
        if init == "mimetic":     # the pretrain stage's initialisation (pretrain.mlm.init)
            init_bert_(self.bert, BertInitConfig(scheme="mimetic", beta_qk=beta_qk, beta_vo=beta_vo,
                                                 position_scale=position_scale))
        elif position_scale != 1.0:
            with torch.no_grad():
                self.bert.bert.embeddings.position_embeddings.weight.mul_(position_scale)
        self.readout = readout
        self.token_head = nn.Linear(cfg.hidden, 1) if readout == "query_token" else None

    def forward(self, q: Tensor, p: Tensor) -> Tensor:
        b, length = p.shape
        ids = torch.cat([torch.full((b, 1), 1), q[:, None], torch.full((b, 1), 2), p, torch.full((b, 1), 2)], 1)
        types = torch.cat([torch.zeros(b, 3), torch.ones(b, length + 1)], 1).long()
        if self.token_head is not None:     # label read at the query token itself (dense, no [CLS] pooling)
            hidden = self.bert.bert(input_ids=ids, token_type_ids=types,
                                    attention_mask=torch.ones_like(ids)).last_hidden_state    # [B, T, H]
            return self.token_head(hidden[:, 1]).squeeze(-1)
        logits = self.bert(input_ids=ids, token_type_ids=types, attention_mask=torch.ones_like(ids)).logits
        return logits[:, 1] - logits[:, 0]


class KNRMScorer(nn.Module):
    """Xiong et al. 2017: cosine translation matrix -> the study's RBF kernel pooling (log soft-TF, scale 0.01)
    -> linear."""

    def __init__(self, vocab: int, dim: int = 64) -> None:
        super().__init__()
        from irprune.models.kernel_pooling import KernelPooling, knrm_kernels

        self.emb = nn.Embedding(vocab + SPECIAL, dim)
        self.pool = KernelPooling(*knrm_kernels(), log_scale=0.01)
        self.out = nn.Linear(self.pool.n_kernels, 1)

    def forward(self, q: Tensor, p: Tensor) -> Tensor:
        from irprune.models.kernel_pooling import cosine_matrix

        sim = cosine_matrix(self.emb(q[:, None]), self.emb(p))                # [B, 1, L]
        feats = self.pool(sim, torch.ones(len(q), 1), torch.ones(p.shape))    # [B, K]
        return self.out(feats).squeeze(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["bert", "knrm"], default="bert")
    ap.add_argument("--init", choices=["bert", "mimetic"], default="bert", help="bert model only")
    ap.add_argument("--readout", choices=["cls", "query_token"], default="cls",
                    help="bert: score from [CLS] as monoBERT does, or a linear head on the query token's output")
    ap.add_argument("--beta-qk", type=float, default=5.0, help="mimetic: logit scale of a perfect match")
    ap.add_argument("--beta-vo", type=float, default=0.5)
    ap.add_argument("--position-scale", type=float, default=1.0,
                    help="bert: position embeddings start at this times BERT's init (the study's default: 0.1)")
    ap.add_argument("--hidden", type=int, default=None, help="bert: hidden size (default: the small preset's 128)")
    ap.add_argument("--layers", type=int, default=None, help="bert: layers (default 2)")
    ap.add_argument("--heads", type=int, default=None, help="bert: attention heads (default 2)")
    ap.add_argument("--vocab", type=int, default=8000, help="word ids (the study's WordPiece has 8,000)")
    ap.add_argument("--length", type=int, default=40, help="passage tokens")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=None, help="default: 3e-4 (bert), 1e-2 (knrm)")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--report", type=int, default=500, help="steps per accuracy block")
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.vocab < 2 or a.length < 1 or a.steps < 1 or a.report < 1:
        ap.error("--vocab must be >= 2 and --length, --steps, --report >= 1")

    if a.lr is None:
        a.lr = 3e-4 if a.model == "bert" else 1e-2
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    shape = {"hidden": a.hidden, "layers": a.layers, "heads": a.heads,
             "intermediate": 4 * a.hidden if a.hidden else None}
    model = (BertScorer(a.vocab, a.length, a.dropout, a.init, a.beta_qk, a.beta_vo, shape, a.readout,
                        a.position_scale)
             if a.model == "bert"
             else KNRMScorer(a.vocab))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    model.train()
    blocks, correct, reached, t0 = [], 0.0, None, time.perf_counter()
    for step in range(1, a.steps + 1):
        q, p, y = make_batch(gen, a.batch, a.vocab, a.length)
        score = model(q, p)
        loss = nn.functional.binary_cross_entropy_with_logits(score, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        correct += ((score > 0).float() == y).float().mean().item()
        if step % a.report == 0:
            acc = correct / a.report
            correct = 0.0
            blocks.append({"steps": step, "accuracy": round(acc, 3), "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(blocks[-1]), flush=True)
            if reached is None and acc >= a.target:
                reached = step
    print(json.dumps({"model": a.model, "init": a.init if a.model == "bert" else None,
                      "position_scale": a.position_scale if a.model == "bert" else None, "dropout": a.dropout,
                      "readout": a.readout if a.model == "bert" else None,
                      "shape": {k: v for k, v in shape.items() if v is not None}, "vocab": a.vocab,
                      "length": a.length, "lr": a.lr, "batch": a.batch, "steps": a.steps,
                      "target": a.target, "first_block_at_target": reached,
                      "final_accuracy": blocks[-1]["accuracy"] if blocks else None}))


if __name__ == "__main__":
    main()
