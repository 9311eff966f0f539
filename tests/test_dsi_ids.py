"""DSI document ids (atomic, naive, semantic) and the prefix trie."""

from __future__ import annotations

import numpy as np
import pytest

from irprune.dsi.config import DSIIdConfig
from irprune.dsi.ids import DocIds, build_ids, hierarchical_kmeans, tfidf_svd
from irprune.dsi.trie import IdTrie
from irprune.errors import DataFormatError, RegistryError


def corpus(n: int = 57, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    topics = [[f"t{t}w{i}" for i in range(15)] for t in range(4)]
    return {f"{7 * i + 3}": " ".join(rng.choice(topics[i % 4], 12)) for i in range(n)}


@pytest.mark.parametrize("scheme", ["atomic", "naive", "semantic"])
def test_ids_are_a_bijection_onto_documents(scheme: str) -> None:
    c = corpus()
    ids = build_ids(list(c), c, DSIIdConfig(scheme=scheme, k=3, c=5))
    assert set(ids.ids) == set(c)
    assert len(set(ids.ids.values())) == len(c)                  # injective
    assert all(ids.docid(ids.ids[d]) == d for d in c)             # round trip
    assert ids.docid((ids.n_tokens + 1,)) is None
    assert all(0 <= t < ids.n_tokens for s in ids.ids.values() for t in s)


def test_naive_ids_spell_the_docid() -> None:
    c = corpus()
    ids = build_ids(list(c), c, DSIIdConfig(scheme="naive"))
    assert ids.labels == tuple("0123456789")
    assert all("".join(ids.labels[t] for t in ids.ids[d]) == d for d in c)


def test_atomic_ids_one_token_each() -> None:
    c = corpus()
    ids = build_ids(list(c), c, DSIIdConfig(scheme="atomic"))
    assert ids.max_len == 1 and ids.n_tokens == len(c)


def test_semantic_ids_respect_k_and_leaf_size() -> None:
    c = corpus(120)
    k, leaf = 3, 7
    ids = build_ids(list(c), c, DSIIdConfig(scheme="semantic", k=k, c=leaf))
    for seq in ids.ids.values():
        assert all(t < k for t in seq[:-1])     # cluster levels
        assert seq[-1] < leaf                    # position in a leaf of <= c documents
    leaves: dict[tuple, int] = {}
    for seq in ids.ids.values():
        leaves[seq[:-1]] = leaves.get(seq[:-1], 0) + 1
    assert max(leaves.values()) <= leaf
    assert ids.max_len >= 3                      # 120 docs cannot fit in k leaves of 7


def test_hierarchical_kmeans_separates_blobs() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    x = np.concatenate([c + rng.normal(0, 0.1, (20, 3)) for c in centres])
    paths = hierarchical_kmeans(x, k=3, c=20, iters=20, seed=0)
    first = [p[0] for p in paths]
    for b in range(3):                          # each blob is one top-level cluster, all blobs differ
        assert len(set(first[20 * b: 20 * (b + 1)])) == 1
    assert len(set(first)) == 3
    assert all(len(p) == 2 for p in paths)


def test_tfidf_svd_embeds_topics_together() -> None:
    c = corpus(40)
    emb = tfidf_svd(list(c.values()), 8, 0)
    assert emb.shape == (40, 8)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-9)
    sims = emb @ emb.T
    same = [sims[i, j] for i in range(40) for j in range(40) if i != j and i % 4 == j % 4]
    diff = [sims[i, j] for i in range(40) for j in range(40) if i % 4 != j % 4]
    assert np.mean(same) > np.mean(diff) + 0.3


def test_unknown_scheme_lists_the_known_ones() -> None:
    c = corpus(5)
    with pytest.raises(RegistryError, match="atomic, naive, semantic"):
        build_ids(list(c), c, DSIIdConfig(scheme="random"))


def test_unknown_scheme_in_params_is_a_config_error() -> None:
    from irprune.config import from_mapping
    from irprune.dsi.config import DSIConfig
    from irprune.errors import ConfigError

    with pytest.raises(ConfigError, match="dsi.ids.scheme = 'random' .* atomic, naive, semantic"):
        from_mapping(DSIConfig, {"ids": {"scheme": "random"}}, prefix="dsi")


def test_docids_save_load_round_trip(tmp_path) -> None:
    c = corpus()
    ids = build_ids(list(c), c, DSIIdConfig(scheme="semantic", k=3, c=5))
    ids.save(tmp_path / "ids.json")
    back = DocIds.load(tmp_path / "ids.json")
    assert back.ids == ids.ids and back.n_tokens == ids.n_tokens and back.scheme == "semantic"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="bad.json"):
        DocIds.load(tmp_path / "bad.json")


def test_duplicate_ids_rejected() -> None:
    with pytest.raises(ValueError, match="share the id"):
        DocIds("x", {"a": (1,), "b": (1,)}, 2)


def test_trie_allowed_and_membership() -> None:
    seqs = [(5, 6, 1), (5, 7, 1), (8, 1)]
    t = IdTrie(seqs)
    assert sorted(t.allowed([])) == [5, 8]
    assert sorted(t.allowed([5])) == [6, 7]
    assert t.allowed([5, 6]) == [1]
    assert t.allowed([5, 6, 1]) == [] and t.allowed([9]) == []
    assert all(s in t for s in seqs)
    assert (5, 6) not in t and (5, 9, 1) not in t
    import torch

    fn = t.prefix_allowed_tokens_fn(start_len=1, fallback=0)
    assert sorted(fn(0, torch.tensor([0, 5]))) == [6, 7]
    assert fn(0, torch.tensor([0, 8, 1])) == [0]               # finished beam: pad only


def test_the_config_names_exactly_the_registered_id_schemes():
    from irprune.dsi.config import ID_SCHEME_NAMES
    from irprune.dsi.ids import ID_SCHEMES

    assert tuple(ID_SCHEMES.names()) == ID_SCHEME_NAMES


def test_semantic_ids_from_embeddings_follow_the_embedding_clusters() -> None:
    """Two well-separated groups of document embeddings: the first id token separates them, and every id is a
    unique path within the k / leaf-size limits."""
    import numpy as np

    from irprune.dsi.ids import EMBEDDINGS, semantic_ids_from_embeddings

    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 8)) * 0.01 + np.eye(8)[0]
    b = rng.normal(size=(12, 8)) * 0.01 - np.eye(8)[0]
    docids = [f"a{i}" for i in range(12)] + [f"b{i}" for i in range(12)]
    ids = semantic_ids_from_embeddings(docids, np.vstack([a, b]), DSIIdConfig(scheme="semantic", k=2, c=5))
    first = {d: ids.ids[d][0] for d in docids}
    assert len({first[d] for d in docids if d.startswith("a")}) == 1
    assert len({first[d] for d in docids if d.startswith("b")}) == 1
    assert first["a0"] != first["b0"]
    assert len(set(ids.ids.values())) == len(docids) and all(t < ids.n_tokens for p in ids.ids.values() for t in p)
    with pytest.raises(ValueError, match="3 embeddings for 24 documents"):
        semantic_ids_from_embeddings(docids, np.vstack([a, b])[:3], DSIIdConfig(scheme="semantic"))
    assert set(EMBEDDINGS.names()) == {"tfidf", "checkpoint"}


def test_semantic_ids_over_the_checkpoint_embeddings_when_present() -> None:
    from conftest import ROOT

    ckpt = ROOT / ".cache" / "models" / "minilm-l6" / "model.safetensors"
    if not ckpt.is_file():
        pytest.skip(f"the all-MiniLM-L6-v2 checkpoint is not in {ckpt.parent} (run `make setup` to fetch it)")
    import os

    here = os.getcwd()
    os.chdir(ROOT)                        # irprune.weights resolves the project cache from the project root
    try:
        c = {"d1": "a cat sat on the mat", "d2": "the kitten sleeps on a rug", "d3": "stock prices fell today",
             "d4": "markets dropped sharply", "d5": "a dog in the garden", "d6": "shares lost value"}
        ids = build_ids(list(c), c, DSIIdConfig(scheme="semantic", embeddings="checkpoint", k=2, c=3))
    finally:
        os.chdir(here)
    assert ids.ids["d3"][0] == ids.ids["d4"][0] == ids.ids["d6"][0] != ids.ids["d1"][0]
