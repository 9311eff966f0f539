"""Size on disk: the sparse format's encoding choice, bit-exact round trip, bounds, corrupt files, tied weights."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import pytest
import torch
from torch import nn

from irprune.costs import encode_tensor, folded_state_dict, load_sparse, save_sparse, size_on_disk
from irprune.costs.size import MAGIC
from irprune.errors import DataFormatError
from irprune.models import build_model
from irprune.pruning import plain_state_dict, prune_oneshot
from irprune.text import Vocab

CORPUS = ["the quick brown fox jumps over the lazy dog", "neural ranking models re-rank bm25 candidates"]


def sparse_tensor(shape: tuple[int, ...], nnz: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.zeros(shape).view(-1)
    t[torch.randperm(t.numel(), generator=g)[:nnz]] = torch.rand(nnz, generator=g) + 0.5
    return t.view(shape)


def test_encoding_choice_follows_the_byte_counts() -> None:
    # sizes from the format's definition: dense 4n; bitmask n/8 + 4 nnz; csr (rows+1)*ip + nnz*(ix + 4)
    assert encode_tensor(torch.rand(64, 64) + 0.1)[0] == "dense"           # 16384 < 512 + 16384
    half = sparse_tensor((64, 64), 2048)                                   # bitmask 8704; csr 130+2048+8192
    assert encode_tensor(half)[0] == "bitmask"
    rare = sparse_tensor((100, 100), 100)                                  # bitmask 1650; csr 101+100+400 = 601
    enc, parts = encode_tensor(rare)
    assert enc == "csr" and sum(p.nbytes for p in parts) == 601
    assert encode_tensor(torch.zeros(1000))[0] == "csr"                    # 2 bytes of indptr, nothing else


def test_round_trip_is_bit_exact_for_odd_values_and_dtypes(tmp_path: Path) -> None:
    state = {
        "signed_zero_nan": torch.tensor([0.0, -0.0, float("nan"), 1.5, float("-inf")]),
        "bool": torch.tensor([[True, False], [False, False]]),
        "int64": torch.tensor([0, -3, 2 ** 40, 0]),
        "empty": torch.zeros(3, 0),
        "scalar_bf16": torch.tensor(2.5, dtype=torch.bfloat16),
        "fp16_sparse": sparse_tensor((30, 40), 50).half(),
        "wide_csr": sparse_tensor((2, 70000), 5),                          # column indices need uint32
        "conv": sparse_tensor((8, 4, 3), 10),
    }
    save_sparse(state, tmp_path / "s.irps")
    back = load_sparse(tmp_path / "s.irps")
    assert list(back) == list(state)
    for k, v in state.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[v.element_size()]
        a = v.to(torch.uint8) if v.dtype == torch.bool else v
        b = back[k].to(torch.uint8) if v.dtype == torch.bool else back[k]
        assert torch.equal(a.contiguous().view(bits), b.contiguous().view(bits)), k


@pytest.fixture(scope="module")
def pruned_ck() -> nn.Module:
    model = build_model("conformer_kernel", {"hidden": 32, "n_heads": 2, "ffn_dim": 32}, Vocab.build(CORPUS),
                        seed=0)
    prune_oneshot(model, "magnitude", 0.9)
    return model


def test_pruned_model_round_trips_and_sizes_are_within_their_bounds(pruned_ck: nn.Module, tmp_path: Path) -> None:
    state = folded_state_dict(pruned_ck)
    assert state.keys() == plain_state_dict(pruned_ck).keys()
    save_sparse(state, tmp_path / "m.irps")
    back = load_sparse(tmp_path / "m.irps")
    assert all(torch.equal(back[k], v) for k, v in state.items())
    r = size_on_disk(pruned_ck, workdir=tmp_path)
    numel = sum(v.numel() for v in state.values())
    nnz = sum(int(torch.count_nonzero(v)) for v in state.values())
    assert (r.numel, r.nonzero) == (numel, nnz)
    # safetensors = 8-byte length + JSON header + raw fp32 data
    assert 4 * numel < r.dense_bytes < 4 * numel + 200 * len(state) + 8
    # the smallest encoding is never larger than bitmask + values; zlib's worst case adds 5 bytes per 16 KiB
    raw_bound = sum(min(4 * v.numel(), math.ceil(v.numel() / 8) + 4 * int(torch.count_nonzero(v)))
                    for v in state.values())
    header_bound = 200 * len(state) + 8
    assert r.sparse_bytes <= len(MAGIC) + (raw_bound + header_bound) * (1 + 5 / 16384) + 11
    assert r.sparse_bytes < r.dense_bytes / 2
    assert sum(r.encodings.values()) == len(state)


def test_all_zero_matrix_is_tiny_and_a_dense_one_is_not_inflated(tmp_path: Path) -> None:
    zero = size_on_disk({"w": torch.zeros(1000, 1000)}, workdir=tmp_path)
    assert zero.sparse_bytes < 1024 and zero.dense_bytes >= 4_000_000
    dense = size_on_disk({"w": torch.randn(200, 200)}, workdir=tmp_path)
    assert dense.encodings == {"dense": 1, "bitmask": 0, "csr": 0}
    assert dense.sparse_bytes <= 4 * 200 * 200 * (1 + 5 / 16384) + 300     # incompressible values + header


def test_tied_weights_are_stored_once() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.head = nn.Linear(8, 50, bias=False)
            self.head.weight = self.emb.weight

    state = folded_state_dict(Tied())
    assert list(state) == ["emb.weight"]


def test_corrupt_files_name_the_path_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "m.irps"
    save_sparse({"a": sparse_tensor((10, 10), 5), "b": torch.ones(3)}, path)
    raw = path.read_bytes()
    bad = tmp_path / "bad.irps"
    bad.write_bytes(b"NOTSPARSE" + raw)
    with pytest.raises(DataFormatError, match=r"bad\.irps.*bad magic.*fix: re-write it"):
        load_sparse(bad)
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError, match=r"bad\.irps.*truncated or corrupt"):
        load_sparse(bad)
    body = zlib.decompress(raw[len(MAGIC):])
    bad.write_bytes(MAGIC + zlib.compress(body[:-4]))                    # last tensor's data cut short
    with pytest.raises(DataFormatError, match="tensor 'b': data ends early"):
        load_sparse(bad)
    bad.write_bytes(MAGIC + zlib.compress(body + b"xx"))
    with pytest.raises(DataFormatError, match="2 trailing bytes"):
        load_sparse(bad)
