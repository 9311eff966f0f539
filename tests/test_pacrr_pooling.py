"""PACRR's position-aware n-gram pooling (Hui et al. 2017) as CEDR-PACRR uses it."""

from __future__ import annotations

import pytest
import torch

from irprune.models.pacrr_pooling import PacrrPooling


def _diagonal_filter(pool: PacrrPooling) -> None:
    """One filter per size that sums its window's diagonal (query term i against document term i)."""
    with torch.no_grad():
        for conv in pool.convs:
            conv.weight.zero_()
            conv.bias.zero_()
            n = conv.kernel_size[0]
            for i in range(n):
                conv.weight[0, 0, i, i] = 1.0


def _matches(n_q: int, n_d: int, pairs: list[tuple[int, int]]) -> torch.Tensor:
    sim = torch.zeros(1, 1, n_q, n_d)
    for i, j in pairs:
        sim[0, 0, i, j] = 1.0
    return sim


def test_a_bigram_filter_fires_on_terms_matched_in_order_only() -> None:
    pool = PacrrPooling(channels=1, max_ngram=2, filters=1, kmax=1)
    _diagonal_filter(pool)
    qm, dm = torch.ones(1, 2, dtype=torch.bool), torch.ones(1, 6, dtype=torch.bool)
    in_order = pool(_matches(2, 6, [(0, 2), (1, 3)]), qm, dm)       # "s r" appears as "s r"
    reversed_ = pool(_matches(2, 6, [(0, 3), (1, 2)]), qm, dm)      # "s r" appears as "r s"
    # unigram features are equal (each term matches once); the bigram feature of the first term sees the order
    assert torch.equal(in_order[0, :, 0], reversed_[0, :, 0])
    assert in_order[0, 0, 1] == 2.0 and reversed_[0, 0, 1] == 1.0


def test_padding_neither_matches_nor_scores() -> None:
    pool = PacrrPooling(channels=2, max_ngram=3, filters=4, kmax=2)
    torch.manual_seed(0)
    sim = torch.rand(2, 2, 4, 7) * 2 - 1
    qm = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    dm = torch.tensor([[1] * 7, [1] * 4 + [0] * 3], dtype=torch.bool)
    out = pool(sim, qm, dm)
    assert out.shape == (2, 4, pool.n_features) == (2, 4, 6)
    assert torch.all(out[0, 3] == 0) and torch.all(out[1, 2:] == 0)
    changed = sim.clone()
    changed[1, :, :, 4:] = 5.0        # the second row's padding documents terms
    changed[1, :, 2:, :] = -3.0       # and its padding query terms
    assert torch.equal(pool(changed, qm, dm), out)


def test_kmax_keeps_the_strongest_document_positions_per_query_term() -> None:
    pool = PacrrPooling(channels=1, max_ngram=1, filters=1, kmax=2)
    _diagonal_filter(pool)
    sim = torch.tensor([[[[0.1, 0.9, 0.3, 0.7]]]])
    out = pool(sim, torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 4, dtype=torch.bool))
    assert out[0, 0].tolist() == pytest.approx([0.9, 0.7])
    short = pool(sim[..., :1], torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 1, dtype=torch.bool))
    assert short[0, 0].tolist() == pytest.approx([0.1, 0.0])      # fewer document terms than k: zero-filled


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="must all be >= 1"):
        PacrrPooling(channels=1, max_ngram=0)
