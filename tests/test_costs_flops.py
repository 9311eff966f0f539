"""FLOP counts against hand counts and the architectures' analytic formulas (FLOPs = 2 x MACs, per pair)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from irprune.costs import count_flops, filler_pairs, register_weight_handler
from irprune.costs import flops as flops_mod
from irprune.models import build_model, model_config
from irprune.pruning import apply_mask, prune_oneshot
from irprune.text import Vocab, WordPieceConfig, train_wordpiece

CORPUS = ["the quick brown fox jumps over the lazy dog", "neural ranking models re-rank bm25 candidates",
          "kernel pooling counts soft matches between query and document terms"]


def test_tiny_mlp_matches_hand_count_per_pair() -> None:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    r = count_flops(mlp, torch.randn(4, 5))
    assert r.batch_size == 4
    assert r.total_dense == 2 * (5 * 7 + 7 * 3) == r.total_sparse          # 112 FLOPs per row
    assert r.per_module == {"0": (70.0, 70.0), "2": (42.0, 42.0)}
    assert r.activation_dense == 0
    # a [B, T, in] input: every one of the T rows of a pair goes through both layers
    r3 = count_flops(mlp, torch.randn(2, 6, 5))
    assert r3.total_dense == 6 * 112 and r3.per_query(10) == (6 * 112 * 10, 6 * 112 * 10)


def test_conv_layers_match_hand_counts() -> None:
    conv = nn.Conv1d(4, 6, kernel_size=3, padding=1)
    assert count_flops(conv, torch.randn(2, 4, 10)).total_dense == 2 * 10 * 6 * 4 * 3          # L_out*Co*Ci*k
    grouped = nn.Conv1d(4, 8, kernel_size=3, groups=2)                                           # L_out = 8
    assert count_flops(grouped, torch.randn(3, 4, 10)).total_dense == 2 * 8 * 8 * (4 // 2) * 3
    conv2 = nn.Conv2d(3, 5, kernel_size=(2, 3), stride=2)                                        # 4 x 4 outputs
    assert count_flops(conv2, torch.randn(1, 3, 8, 9)).total_dense == 2 * 4 * 4 * 5 * 3 * 2 * 3
    from transformers.pytorch_utils import Conv1D                        # GPT-2 style Linear, weight [in, out]
    gpt = Conv1D(6, 4)
    with torch.no_grad():
        gpt.weight[:, :3] = 0                                            # half the weights zero
    r = count_flops(gpt, torch.randn(2, 3, 4))
    assert (r.total_dense, r.total_sparse) == (2 * 3 * 4 * 6, 3 * 4 * 6)
    emb = nn.Embedding(10, 4)
    assert count_flops(emb, torch.tensor([[1, 2, 3]])).total_dense == 0


def test_sparse_count_is_dense_times_density_for_a_masked_linear() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(10, 8)
    keep = torch.zeros(8, 10, dtype=torch.bool)
    keep.view(-1)[torch.randperm(80)[:20]] = True                 # exactly 20 of 80 weights kept: density 0.25
    apply_mask(lin, {"weight": keep})
    r = count_flops(lin, torch.randn(3, 10))
    assert r.total_dense == 2 * 80 and r.total_sparse == 2 * 80 * 0.25
    # a masked conv: positions x nnz
    conv = nn.Conv1d(2, 3, kernel_size=2)
    k2 = torch.ones(3, 2, 2, dtype=torch.bool)
    k2[0] = False                                                # 8 of 12 kept
    apply_mask(conv, {"weight": k2})
    r2 = count_flops(conv, torch.randn(1, 2, 5))
    assert r2.total_dense == 2 * 4 * 12 and r2.total_sparse == 2 * 4 * 8


@pytest.fixture(scope="module")
def tok():
    return train_wordpiece(CORPUS * 2, WordPieceConfig(vocab_size=120, min_frequency=1))


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.build(CORPUS)


def bert_formula(n: int, h: int, i: int, layers: int, labels: int = 2) -> int:
    """Per-sequence FLOPs of BERT (Devlin et al. 2019) from its shapes: per layer q, k, v, o projections 4 h^2 n,
    QK^T and AV 2 n^2 h, feed-forward 2 h i n MACs; pooler h^2 (the [CLS] row), classifier h * labels."""
    return 2 * layers * (4 * h * h * n + 2 * n * n * h + 2 * h * i * n) + 2 * h * h + 2 * h * labels


def test_tiny_bert_matches_the_analytic_formula_dense_and_sparse(tok) -> None:
    h, i, layers = 32, 48, 2
    model = build_model("monobert", {"hidden": h, "layers": layers, "heads": 4, "intermediate": i,
                                     "max_len": 40, "max_query_len": 5, "max_doc_len": 20}, tok, seed=0)
    batch = model.collate(filler_pairs(3, 5, 20))
    n = batch["input_ids"].shape[1]
    assert n == 5 + 20 + 3
    r = count_flops(model, batch)
    assert r.total_dense == bert_formula(n, h, i, layers) == r.total_sparse
    assert r.activation_dense == 2 * layers * 2 * n * n * h
    prune_oneshot(model, "magnitude", 0.7)
    r = count_flops(model, batch)
    assert r.total_dense == bert_formula(n, h, i, layers)
    enc = model.bert.bert.encoder
    nnz_tokens = sum(int(torch.count_nonzero(m.weight)) for m in enc.modules() if isinstance(m, nn.Linear))
    nnz_once = (int(torch.count_nonzero(model.bert.bert.pooler.dense.weight))
                + int(torch.count_nonzero(model.bert.classifier.weight)))
    assert r.total_sparse == 2 * (n * nnz_tokens + nnz_once) + 2 * layers * 2 * n * n * h
    assert r.total_sparse < 0.6 * r.total_dense


def test_conv_knrm_matches_the_analytic_formula(vocab) -> None:
    emb, f, hmax, k, lq, ld = 16, 8, 3, 5, 4, 12
    model = build_model("conv_knrm", {"embedding_dim": emb, "n_filters": f, "max_ngram": hmax, "n_kernels": k,
                                      "max_query_len": lq, "max_doc_len": ld}, vocab, seed=0)
    r = count_flops(model, model.collate(filler_pairs(2, lq, ld)))
    convs = sum((lq + ld) * f * h * emb for h in range(1, hmax + 1))   # Dai et al. 2018 eq. 1, on q and d
    cosine = hmax * hmax * lq * ld * f                                  # eq. 2: 9 cross-match matrices
    out = hmax * hmax * k                                               # eq. 5
    assert r.total_dense == 2 * (convs + cosine + out)
    assert r.activation_dense == 2 * cosine and r.per_module[""] == (2 * cosine, 2 * cosine)


def test_conformer_kernel_matches_the_analytic_formula(vocab) -> None:
    h, heads, ffn, ck, kn, ht, lq, ld = 16, 2, 24, 3, 4, 6, 3, 10
    cfg = {"hidden": h, "n_heads": heads, "ffn_dim": ffn, "conv_kernel": ck, "n_kernels": kn, "term_hidden": ht,
           "n_layers": 2, "window": 4, "stride": 3, "max_query_len": lq, "max_doc_len": ld}
    model = build_model("conformer_kernel", cfg, vocab, seed=0)
    r = count_flops(model, model.collate(filler_pairs(2, lq, ld)))
    windows = 1 + -(-(ld - 4) // 3)                                    # 3 windows of 4 terms, stride 3
    layer = ld * h * ck + ld * h * h + 4 * ld * h * h + 2 * ld * ld * h + 2 * ld * h * ffn
    macs = 2 * layer + lq * h * h + ld * h * 2 + lq * ld * h + lq * windows * (kn * ht + ht)
    assert r.total_dense == 2 * macs
    assert r.activation_dense == 2 * (2 * 2 * ld * ld * h + lq * ld * h)
    # MHA's q/k/v projections live in its in_proj_weight: masking part of it shows up in the sparse count
    attn = model.layers[0].attn
    with torch.no_grad():
        attn.in_proj_weight[:h].zero_()                                 # the whole query projection
    r2 = count_flops(model, model.collate(filler_pairs(2, lq, ld)))
    assert r.total_dense - r2.total_sparse == 2 * ld * h * h


def test_every_ranker_small_preset_counts_strictly(tok, vocab) -> None:
    """The hook formulas agree with the ATen counts layer by layer for the shipped models (strict mode)."""
    for name, text in (("monobert", tok), ("conv_knrm", vocab), ("conformer_kernel", vocab)):
        cfg = model_config(name, "small", {"max_len": 64, "max_query_len": 8, "max_doc_len": 32}
                           if name == "monobert" else {"max_query_len": 8, "max_doc_len": 32})
        model = build_model(name, cfg, text, seed=0).train()
        prune_oneshot(model, "magnitude", 0.9)
        r = count_flops(model, model.collate(filler_pairs(2, 8, 32)))
        assert 0 < r.total_sparse < r.total_dense
        assert r.weight_dense + r.activation_dense == r.total_dense
        assert model.training                                            # mode restored
    assert torch.backends.mha.get_fastpath_enabled()                     # fast path restored


class FunctionalWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w.t()


def test_unhandled_functional_weight_is_an_error_unless_registered() -> None:
    model = FunctionalWeight()
    with pytest.raises(RuntimeError, match="FunctionalWeight.*register_weight_handler"):
        count_flops(model, torch.randn(2, 4))
    r = count_flops(model, torch.randn(2, 4), strict=False)
    assert r.total_dense == r.total_sparse == 2 * 24 and r.activation_dense == 2 * 24

    def handler(m, args, kwargs, out):
        rows = args[0].numel() // args[0].shape[-1]
        return rows * m.w.numel(), rows * int(torch.count_nonzero(m.w))
    register_weight_handler(FunctionalWeight)(handler)
    try:
        with torch.no_grad():
            model.w[:3] = 0
        r = count_flops(model, torch.randn(2, 4))
        assert r.total_dense == 48 and r.total_sparse == 24 and r.activation_dense == 0
    finally:
        flops_mod._EXTRA_HANDLERS[:] = [e for e in flops_mod._EXTRA_HANDLERS if e[0] is not FunctionalWeight]


def test_batch_without_tensors_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no tensors"):
        count_flops(nn.Linear(2, 2), {"a": 1})


def test_t5_encoder_decoder_matches_the_analytic_formula() -> None:
    """Ready for DSI (Tay et al. 2022, a T5): a tiny T5 counted strictly against Raffel et al. 2020's shapes."""
    from transformers import T5Config, T5ForConditionalGeneration

    dm, inner, dff, vocab, layers, n, m = 16, 16, 32, 64, 2, 7, 3
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=vocab, d_model=dm, d_kv=4, num_heads=4, d_ff=dff,
                                             num_layers=layers, num_decoder_layers=layers,
                                             decoder_start_token_id=0))

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.t5 = t5

        def forward(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
            return self.t5(input_ids=b["input_ids"], decoder_input_ids=b["decoder_input_ids"]).logits

    batch = {"input_ids": torch.randint(0, vocab, (2, n)), "decoder_input_ids": torch.randint(0, vocab, (2, m))}
    r = count_flops(Wrapped(), batch)
    enc = 4 * n * dm * inner + 2 * n * n * inner + 2 * n * dm * dff
    dec = (4 * m * dm * inner + 2 * m * m * inner                              # self-attention
           + 2 * m * dm * inner + 2 * n * dm * inner + 2 * m * n * inner       # cross: q, o on m; k, v on n
           + 2 * m * dm * dff)
    assert r.total_dense == 2 * (layers * (enc + dec) + m * dm * vocab)
    assert r.activation_dense == 2 * layers * (2 * n * n * inner + 2 * m * m * inner + 2 * m * n * inner)
