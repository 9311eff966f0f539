"""Conv-KNRM and Conformer-Kernel specifics: exact-match features, n-gram masks, QTI, parameter counts."""

from __future__ import annotations

import math

import pytest
import torch

from irprune.models import build_model, model_config
from irprune.models.conv_knrm import ngram_mask
from irprune.text import Vocab

WORDS = ("fox dog cat bird fish query document kernel pooling ranking bert pruning conformer term "
         "the a of and to in").split()


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.build([" ".join(WORDS)])


def test_ngram_mask() -> None:
    m = torch.tensor([[1.0, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    assert ngram_mask(m, 1).tolist() == m.tolist()
    assert ngram_mask(m, 2).tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert ngram_mask(m, 3).tolist() == [[1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]


def test_conv_knrm_exact_match_feature_counts_matches(vocab: Vocab) -> None:
    """Unigram-unigram exact-match kernel (mu=1, sigma=1e-3): soft-TF = number of identical terms, so the
    feature is 0.01 * log(count) (Dai et al. 2018 eq. 3-4, reference-code scale 0.01)."""
    model = build_model("conv_knrm", None, vocab, seed=0).eval()
    docs = ["fox dog cat", "fox dog fox cat fox", "bird fish bird"]
    with torch.no_grad():
        feats = model.features(model.collate([("fox", d) for d in docs]))       # [3, 9K]
    k = model.cfg.n_kernels
    assert feats.shape == (3, 9 * k)
    assert float(feats[0, 0]) == pytest.approx(0.01 * math.log(1), abs=1e-4)
    assert float(feats[1, 0]) == pytest.approx(0.01 * math.log(3), abs=1e-4)
    assert float(feats[2, 0]) < 0.01 * math.log(1e-3)                         # no match: clamped far below 0
    # a one-word query has no bigrams/trigrams: their features (rows hq=2,3) are 0
    assert torch.all(feats[:, 3 * k:] == 0)


def test_conv_knrm_paper_parameter_count(vocab: Vocab) -> None:
    cfg = model_config("conv_knrm", "paper")
    assert (cfg.embedding_dim, cfg.n_filters, cfg.n_kernels, cfg.max_ngram) == (300, 128, 11, 3)
    model = build_model("conv_knrm", cfg, vocab)
    v, emb, f, k = len(vocab), 300, 128, 11
    expected = v * emb + (f * 1 * emb + f) + (f * 2 * emb + f) + (f * 3 * emb + f) + (9 * k + 1)
    assert model.n_parameters() == expected == v * 300 + 230_884


def test_ck_precomputed_documents_and_query_term_independence(vocab: Vocab) -> None:
    cfg = model_config("conformer_kernel", "small", {"window": 3, "stride": 2, "term_hidden": 6})
    model = build_model("conformer_kernel", cfg, vocab, seed=3).eval()
    query = "fox query kernel"
    docs = ["the fox and the dog in a document", "kernel pooling of term ranking", "bert pruning"]
    with torch.no_grad():
        batch = model.collate([(query, d) for d in docs])
        full = model(batch)
        enc = model.encode_documents(batch["doc_ids"], batch["doc_mask"])
        torch.testing.assert_close(model.score_from_encoded(batch["query_ids"], batch["query_mask"], enc), full)
        per_term = [model(model.collate([(w, d) for d in docs])) for w in query.split()]
        torch.testing.assert_close(full, torch.stack(per_term).sum(0), rtol=1e-5, atol=1e-5)
        terms = model.term_scores(batch["query_ids"], batch["query_mask"], enc)
        torch.testing.assert_close(terms, torch.stack(per_term, dim=1), rtol=1e-5, atol=1e-5)
        # the document representation does not depend on the query
        other = model.collate([("bird fish", d) for d in docs])
        torch.testing.assert_close(model.encode_documents(other["doc_ids"], other["doc_mask"])["doc_vecs"],
                                   enc["doc_vecs"])


def test_ck_paper_parameter_count(vocab: Vocab) -> None:
    """Mitra et al. 2021 config (TREC-Deep-Learning-Quick-Start defaults): H = 256, 2 layers, 32 heads,
    convolution window 31, FFN 256, 10 kernels, per-term MLP 10 -> 256 -> 1."""
    cfg = model_config("conformer_kernel", "paper")
    model = build_model("conformer_kernel", cfg, vocab)
    v, h, ffn, kw, k, th = len(vocab), 256, 256, 31, 10, 256
    layer = ((h * kw + h) + (h * h + h)            # depthwise + pointwise convolution
             + 4 * (h * h + h)                     # attention q, k, v, out projections
             + (h * ffn + ffn) + (ffn * h + h)     # feed-forward
             + 3 * 2 * h)                          # three layer norms
    expected = v * h + (h * h + h) + 2 * layer + 3 + (k * th + th) + (th + 1)
    assert model.n_parameters() == expected == v * 256 + 1_009_412
