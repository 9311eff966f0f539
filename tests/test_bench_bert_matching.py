"""The term-matching probe of ``benchmarks/bench_bert_matching.py`` (exact term matching from scratch).

The benchmark counts the steps monoBERT's small shape needs to learn exact term matching under each initialisation
(BERT's stays at chance for thousands of steps); its figures are only meaningful if the task is what it says and is
learnable: the labels must be exact membership, balanced, and a matching model (K-NRM with the study's kernel
pooling) must learn it quickly in the same loop.
"""

from __future__ import annotations

import torch
from benchmark_module import load_benchmark


def _bench():
    return load_benchmark("bench_bert_matching")


def test_labels_are_exact_membership_and_balanced():
    b = _bench()
    q, p, y = b.make_batch(torch.Generator().manual_seed(1), 4000, 50, 40)   # small vocab: many accidental hits
    assert q.min() >= b.SPECIAL and p.min() >= b.SPECIAL and p.max() < 50 + b.SPECIAL
    member = (p == q[:, None]).any(1).float()
    assert torch.equal(member, y)
    assert 0.45 < y.mean().item() < 0.55
    assert ((p == q[:, None]).sum(1)[y.bool()] == 1).float().mean() > 0.3    # inserted once (plus chance repeats)


def test_knrm_reference_learns_the_task_quickly():
    b = _bench()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = b.KNRMScorer(8000)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    for _ in range(300):
        q, p, y = b.make_batch(gen, 32, 8000, 40)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(q, p), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    q, p, y = b.make_batch(gen, 512, 8000, 40)
    with torch.no_grad():
        acc = ((model(q, p) > 0).float() == y).float().mean().item()
    assert acc > 0.95


def test_bert_scorer_has_monobert_small_shape_and_mimetic_init():
    b = _bench()
    torch.manual_seed(0)
    model = b.BertScorer(100, 40, 0.0, "mimetic", 5.0, 0.5, {})
    cfg = model.bert.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (128, 2, 2)
    for layer in model.bert.bert.encoder.layer:
        att = layer.attention.self
        assert torch.equal(att.query.weight, att.key.weight)
        assert torch.allclose(layer.attention.output.dense.weight, -0.5 * torch.eye(128))
    q, p, _ = b.make_batch(torch.Generator().manual_seed(0), 4, 100, 40)
    assert model(q, p).shape == (4,)
    tok = b.BertScorer(100, 40, 0.0, "bert", 5.0, 0.5, {}, "query_token")
    assert tok(q, p).shape == (4,)
