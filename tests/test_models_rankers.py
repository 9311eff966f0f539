"""The shared Ranker contract for every registered model: forward/backward, seeding, padding, limits, registry."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from irprune.errors import ConfigError, RegistryError
from irprune.models import MODELS, build_model, model_config, select_device, autocast
from irprune.text import Vocab, WordPieceConfig, train_wordpiece

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "neural ranking models re-rank bm25 candidates for ad hoc retrieval",
    "kernel pooling counts soft matches between query and document terms",
    "pruning removes weights from bert while keeping ranking quality",
    "convolutional n-gram matching for ad hoc search with kernels",
    "the conformer encodes the document once for query term independence",
]
PAIRS = [("quick fox", "the quick brown fox jumps over the lazy dog"),
         ("kernel pooling ranking", "kernel pooling counts soft matches between query and document terms"),
         ("bert pruning", "pruning removes weights"),
         ("unseen zebra words", "")]
NAMES = ["monobert", "conv_knrm", "conformer_kernel"]


@pytest.fixture(scope="module")
def texts() -> dict[str, Any]:
    tok = train_wordpiece(CORPUS * 2, WordPieceConfig(vocab_size=200, min_frequency=1))
    vocab = Vocab.build(CORPUS)
    return {"monobert": tok, "conv_knrm": vocab, "conformer_kernel": vocab}


def small(name: str) -> Any:
    # CK with windows, so the windowed path is exercised too
    return model_config(name, "small", {"window": 4, "stride": 3, "term_hidden": 8}
                        if name == "conformer_kernel" else None)


def test_registry_lists_models_and_rejects_unknown_names() -> None:
    assert MODELS.names() == sorted(NAMES)
    with pytest.raises(RegistryError,
                       match="unknown model 'knrm'; known models: conformer_kernel, conv_knrm, monobert"):
        build_model("knrm")
    with pytest.raises(ConfigError, match="no preset 'huge'.*paper, small"):
        model_config("conv_knrm", "huge")
    with pytest.raises(ConfigError, match="model.conv_knrm.n_kernels"):
        model_config("conv_knrm", "small", {"n_kernels": 1})
    with pytest.raises(ConfigError, match="must divide hidden"):
        model_config("conformer_kernel", "small", {"n_heads": 5})
    with pytest.raises(ConfigError, match="needs a word Vocab"):
        build_model("conv_knrm", None, None)


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_gives_finite_grads_on_every_parameter(name: str, texts: dict[str, Any]) -> None:
    model = build_model(name, small(name), texts[name], seed=0).train()
    batch = model.collate(PAIRS)
    scores = model.score(batch)
    assert scores.shape == (len(PAIRS),) and torch.isfinite(scores).all()
    # a pairwise hinge on the first two pairs plus a pointwise term touches every parameter
    loss = torch.relu(1 - scores[0] + scores[1]) + (scores ** 2).mean()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"
    assert sum(float(p.grad.abs().sum()) for p in model.parameters()) > 0


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scores_other_seed_different(name: str, texts: dict[str, Any]) -> None:
    a = build_model(name, small(name), texts[name], seed=7).eval()
    b = build_model(name, small(name), texts[name], seed=7).eval()
    c = build_model(name, small(name), texts[name], seed=8).eval()
    batch = a.collate(PAIRS)
    with torch.no_grad():
        assert torch.equal(a(batch), b(batch))
        assert not torch.allclose(a(batch), c(batch))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    build_model(name, small(name), texts[name], seed=1)
    assert torch.equal(torch.rand(1), before)                    # building does not disturb the global RNG


@pytest.mark.parametrize("name", NAMES)
def test_scores_do_not_depend_on_batch_padding(name: str, texts: dict[str, Any]) -> None:
    model = build_model(name, small(name), texts[name], seed=0).eval()
    with torch.no_grad():
        together = model(model.collate(PAIRS))
        alone = torch.cat([model(model.collate([p])) for p in PAIRS])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_lengths_above_the_model_maximum_are_refused(name: str, texts: dict[str, Any]) -> None:
    model = build_model(name, small(name), texts[name], seed=0)
    with pytest.raises(ConfigError, match=r"exceed.*maximum.*fix"):
        model.collate(PAIRS, max_query_len=16, max_doc_len=4096)
    with pytest.raises(ConfigError, match=">= 1"):
        model.collate(PAIRS, max_query_len=0)
    batch = model.collate(PAIRS, max_query_len=2, max_doc_len=3)   # truncation below the limit is fine
    assert all(v.shape[0] == len(PAIRS) for v in batch.values())


def test_collate_truncates_to_requested_lengths(texts: dict[str, Any]) -> None:
    knrm = build_model("conv_knrm", None, texts["conv_knrm"])
    b = knrm.collate(PAIRS, max_query_len=2, max_doc_len=3)
    assert b["query_ids"].shape == (4, 2) and b["doc_ids"].shape == (4, 3)
    assert b["doc_mask"][3].sum() == 0                               # the empty document
    bert = build_model("monobert", None, texts["monobert"])
    b = bert.collate(PAIRS, max_query_len=2, max_doc_len=3)
    assert b["input_ids"].shape[1] <= 2 + 3 + 3
    tok = texts["monobert"]
    row = b["input_ids"][0][b["attention_mask"][0] == 1].tolist()
    assert row[0] == tok.cls_token_id and row[-1] == tok.sep_token_id and row.count(tok.sep_token_id) == 2
    assert b["token_type_ids"][0][b["attention_mask"][0] == 1].tolist() == [0] * 4 + [1] * (len(row) - 4)


def test_device_helpers_on_this_machine() -> None:
    dev = select_device("auto")
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert select_device("cpu").type == "cpu"
    with pytest.raises(ConfigError, match="'auto', 'cpu', 'cuda'"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            select_device("cuda")
    with autocast(torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32   # CPU stays fp32
