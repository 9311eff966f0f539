"""Dense retrieval: mean pooling, the bi-encoder's encoding order, flat and PQ indexes (round trips, ADC scores
against faiss), JPQ's loss on a tiny index, pruning the query encoder, and the real checkpoint where present."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import ROOT
from irprune.dense import index as ix
from irprune.dense.encoder import BiEncoder, embed, length_sorted_batches, mean_pool
from irprune.dense.jpq import jpq_loss, pq_scores, ranking_loss, train_jpq
from irprune.dense.train import (TrainingPairs, contrastive_loss, distillation_loss, finetune_query_encoder,
                                 teacher_scores, training_pairs)

WORDS = ["apple", "banana", "cherry", "dog", "eagle", "fish", "grape", "horse", "iris", "jade", "kite", "lemon",
         "mango", "night", "olive", "piano", "queen", "river", "stone", "tiger"]


def tiny_encoder(tmp_path: Path, seed: int = 0) -> BiEncoder:
    """A 2-layer BERT of hidden size 32 with a word-level WordPiece vocabulary (random weights)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})
    torch.manual_seed(seed)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64, max_position_embeddings=64)).eval()
    return BiEncoder(tok, model, model)


class WordAverage(torch.nn.Module):
    """A bag-of-words "encoder" (token embeddings, no mixing): mean pooling then gives distinct text vectors, where
    a randomly initialised BERT maps every text to nearly the same direction."""

    def __init__(self, vocab_size: int, dim: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = torch.nn.Embedding(vocab_size, dim)
        self.config = SimpleNamespace(hidden_size=dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> SimpleNamespace:
        return SimpleNamespace(last_hidden_state=self.emb(input_ids))


def tiny_word_encoder(tmp_path: Path) -> BiEncoder:
    enc = tiny_encoder(tmp_path)
    model = WordAverage(len(enc.tokenizer))
    return BiEncoder(enc.tokenizer, model, model)


def tiny_corpus(n: int = 40, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    return {f"d{i:02d}": " ".join(rng.choice(WORDS, size=int(rng.integers(3, 9)))) for i in range(n)}


def test_mean_pool_equals_a_hand_computation():
    h = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)     # [B=2, T=3, H=2]
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    out = mean_pool(h, mask)
    assert torch.allclose(out[0], (h[0, 0] + h[0, 1]) / 2)
    assert torch.allclose(out[1], h[1, 0])
    assert torch.equal(mean_pool(h, torch.zeros(2, 3, dtype=torch.long)), torch.zeros(2, 2))


def test_length_sorted_batches_cover_every_index_once_longest_first():
    lengths = [3, 9, 1, 9, 4]
    batches = length_sorted_batches(lengths, 2)
    assert sorted(i for b in batches for i in b) == list(range(5))
    assert batches[0] == [1, 3] and batches[-1] == [2]


def test_encode_is_normalised_and_independent_of_batching(tmp_path):
    enc = tiny_encoder(tmp_path)
    texts = list(tiny_corpus(12).values())
    a = enc.encode(texts, "doc", max_tokens=16, batch_size=5, label=False)
    b = enc.encode(texts, "doc", max_tokens=16, batch_size=1, label=False)
    assert a.shape == (12, 32) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.allclose(a, b, atol=1e-5)          # length sorting and padding never change a text's vector
    enc_in = enc.tokenize(texts[:1], 16)
    out = enc.doc(**enc_in).last_hidden_state[0]
    hand = out.mean(0) / out.mean(0).norm()       # one text, no padding: the plain mean of its token states
    assert np.allclose(a[0], hand.detach().numpy(), atol=1e-5)


def test_grouped_embedding_equals_one_padded_batch_in_input_order_with_gradients(tmp_path):
    enc = tiny_encoder(tmp_path)
    texts = list(tiny_corpus(11, seed=3).values())           # 3 to 8 words: groups of different padded lengths
    t = enc.tokenize(texts, 16)
    whole = embed(enc.doc, t["input_ids"], t["attention_mask"], enc.normalize)
    for group in (1, 4, 11, 64):
        grouped = enc.embed_grouped(enc.doc, texts, 16, group)
        assert grouped.shape == whole.shape and torch.allclose(grouped, whole, atol=1e-5)
    grouped.sum().backward()                                  # training encodes candidates through it
    assert enc.doc.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0


def test_flat_retrieval_on_a_tiny_corpus_is_exact_inner_product_search(tmp_path):
    enc = tiny_encoder(tmp_path)
    corpus = tiny_corpus(30)
    ids = ix.doc_order(corpus)
    docs = enc.encode([corpus[d] for d in ids], "doc", max_tokens=16, label=False)
    index = ix.flat_index(docs)
    qids = ids[:5]
    qv = enc.encode([corpus[d] for d in qids], "query", max_tokens=16, label=False)
    run = ix.search(index, qv, qids, ids, 30)
    exact = qv @ docs.T
    for i, q in enumerate(qids):
        assert run[q][q] == pytest.approx(1.0, abs=1e-5)            # a text's own vector: inner product 1
        assert max(run[q].values()) == pytest.approx(float(exact[i].max()), abs=1e-5)
        assert all(run[q][d] == pytest.approx(float(exact[i, j]), abs=1e-5) for j, d in enumerate(ids))
    assert ix.index_bytes(index) == len(ids) * 32 * 4
    top = ix.run_from_scores(exact, qids, ids, 3)
    assert all(len(top[q]) == 3 and min(top[q].values()) >= sorted(exact[i])[-3] for i, q in enumerate(qids))


def test_pq_round_trip_matches_faiss_decoding_and_its_error_shrinks_with_m():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    errs = {}
    for m in (2, 8):
        index = ix.train_pq(x, m, nbits=6)
        book = ix.pq_codebook(index)
        assert book.codes.shape == (600, m) and book.centroids.shape == (m, 64, 16 // m)
        rec = book.reconstruct()
        assert np.allclose(rec, index.reconstruct_n(0, 600), atol=1e-6)   # our decoding = faiss's
        errs[m] = float(np.linalg.norm(rec - x, axis=1).mean())
        assert errs[m] < 1.0                               # better than the zero vector (error 1 on unit vectors)
        assert ix.index_bytes(index) == 600 * index.pq.code_size + m * 64 * (16 // m) * 4
    assert errs[8] < errs[2]
    # as many centroids as points in every sub-space: each vector is coded exactly
    small = x[:64]
    book = ix.pq_codebook(ix.train_pq(small, 4, nbits=6))
    assert np.abs(book.reconstruct() - small).max() < 1e-4


def test_pq_scores_equal_faiss_inner_products_and_set_centroids_writes_back():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 12)).astype(np.float32)
    q = rng.normal(size=(4, 12)).astype(np.float32)
    index = ix.train_pq(x, 3, nbits=5)
    book = ix.pq_codebook(index)
    s = pq_scores(torch.from_numpy(q), torch.from_numpy(book.centroids), torch.from_numpy(book.codes)).numpy()
    assert np.allclose(s, q @ book.reconstruct().T, atol=1e-4)
    top_s, top_i = index.search(q, 5)
    assert np.allclose(np.take_along_axis(s, top_i, 1), top_s, atol=1e-4)
    ix.set_centroids(index, book.centroids * 2)
    assert np.allclose(ix.pq_codebook(index).centroids, book.centroids * 2)
    assert ix.compression_for(384, 96) == 16.0 and ix.compression_for(384, 48) == 32.0


def test_opq_rotation_is_orthogonal_its_scores_equal_faiss_and_its_error_is_below_pq():
    rng = np.random.default_rng(2)
    # correlated dimensions with unequal variance: what OPQ's rotation balances across the sub-spaces
    x = (rng.normal(size=(800, 16)) @ rng.normal(size=(16, 16)) * np.linspace(3, 0.2, 16)).astype(np.float32)
    q = rng.normal(size=(5, 16)).astype(np.float32)
    index = ix.train_opq(x, 4, nbits=5, niter=20)
    r = ix.rotation(index)
    assert r.shape == (16, 16) and np.allclose(r @ r.T, np.eye(16), atol=1e-5)
    book = ix.pq_codebook(index)                                  # centroids and codes of the rotated vectors
    s = pq_scores(torch.from_numpy(q @ r.T), torch.from_numpy(book.centroids), torch.from_numpy(book.codes)).numpy()
    top_s, top_i = index.search(q, 6)                             # faiss rotates the queries itself
    assert np.allclose(np.take_along_axis(s, top_i, 1), top_s, atol=1e-3)
    assert np.allclose(book.reconstruct() @ r, index.reconstruct_n(0, len(x)), atol=1e-5)   # R^-1 = R^T
    plain = ix.train_pq(x, 4, nbits=5)
    err = {k: float(np.linalg.norm(i.reconstruct_n(0, len(x)) - x, axis=1).mean()) for k, i in
           (("opq", index), ("pq", plain))}
    assert err["opq"] < err["pq"]
    assert ix.rotation(plain) is None
    assert ix.index_bytes(index) == ix.index_bytes(plain) + 16 * 16 * 4   # + the rotation
    ix.set_centroids(index, book.centroids * 2)                   # written into the inner PQ
    assert np.allclose(ix.pq_codebook(index).centroids, book.centroids * 2)
    with pytest.raises(ValueError, match="divisible"):
        ix.train_opq(x, 5)


def test_ranking_loss_weights_pairs_by_the_change_in_reciprocal_rank():
    pos = torch.tensor([1.0])
    neg = torch.tensor([[2.0, 0.0]])
    loss = ranking_loss(pos, neg, torch.tensor([2]), torch.tensor([[1, 3]]))
    want = abs(1 / 2 - 1) * math.log1p(math.exp(1.0)) + abs(1 / 2 - 1 / 3) * math.log1p(math.exp(-1.0))
    assert loss.item() == pytest.approx(want, rel=1e-6)
    ce = ranking_loss(pos, neg, torch.tensor([2]), torch.tensor([[1, 3]]), kind="ce")
    assert ce.item() == pytest.approx(-math.log(math.e / (math.e + math.e ** 2 + 1)), rel=1e-6)


def _pairs(corpus: dict[str, str], ids: list[str], n: int = 16) -> tuple:
    """Queries = the first three words of a document, which is their one positive."""
    row = {d: i for i, d in enumerate(ids)}
    queries = {f"q{i}": " ".join(corpus[d].split()[:3]) for i, d in enumerate(ids[:n])}
    qrels = {f"q{i}": {d: 1} for i, d in enumerate(ids[:n])}
    return training_pairs(queries, qrels, None, row, 10), queries, qrels


def _jpq_objective(enc: BiEncoder, cent: np.ndarray, codes: np.ndarray, pairs) -> float:
    """JPQ's loss over every training pair (first positive, all retrieved negatives), in eval mode."""
    q = torch.from_numpy(enc.encode(pairs.texts, "query", max_tokens=16, label=False))
    pos = torch.tensor([p[0] for p in pairs.positives])
    with torch.no_grad():
        return float(jpq_loss(q, torch.from_numpy(cent), torch.from_numpy(codes), pos, pairs.positives, 8))


@pytest.mark.parametrize("lr", [0.0, 1e-3])
def test_jpq_loss_decreases_on_a_tiny_index(tmp_path, lr):
    enc = tiny_word_encoder(tmp_path)
    corpus = tiny_corpus(40)
    ids = ix.doc_order(corpus)
    docs = enc.encode([corpus[d] for d in ids], "doc", max_tokens=16, label=False)
    book = ix.pq_codebook(ix.train_pq(docs, 4, nbits=4))
    pairs, _, _ = _pairs(corpus, ids)
    before = _jpq_objective(enc, book.centroids, book.codes, pairs)
    cfg = SimpleNamespace(steps=60, batch_size=16, negatives=8, sampled=0, lr=lr, centroid_lr=3e-2, warmup_steps=0,
                          loss="lambda", eval_every=100, selection="last", seed=0)
    res = train_jpq(enc, book, pairs, cfg, None, query_max_tokens=16)
    after = _jpq_objective(enc, res.centroids, book.codes, pairs)
    assert after < 0.9 * before
    assert len([h for h in res.history if "loss" in h]) == 60
    assert res.centroids.shape == book.centroids.shape and not np.allclose(res.centroids, book.centroids)
    assert enc.query is not enc.doc                  # the document encoder (and so the codes) is untouched
    if lr == 0:
        assert all(torch.equal(a, b) for a, b in zip(enc.query.parameters(), enc.doc.parameters()))


def test_jpq_from_an_opq_index_trains_on_rotated_queries(tmp_path):
    enc = tiny_word_encoder(tmp_path)
    corpus = tiny_corpus(40)
    ids = ix.doc_order(corpus)
    docs = enc.encode([corpus[d] for d in ids], "doc", max_tokens=16, label=False)
    index = ix.train_opq(docs, 4, nbits=4, niter=5)
    r, book = ix.rotation(index), ix.pq_codebook(index)
    pairs, _, _ = _pairs(corpus, ids)

    def objective(cent: np.ndarray) -> float:
        q = torch.from_numpy(enc.encode(pairs.texts, "query", max_tokens=16, label=False) @ r.T)
        pos = torch.tensor([p[0] for p in pairs.positives])
        with torch.no_grad():
            return float(jpq_loss(q, torch.from_numpy(cent), torch.from_numpy(book.codes), pos, pairs.positives, 8))

    seen = []
    cfg = SimpleNamespace(steps=60, batch_size=16, negatives=8, sampled=0, lr=0.0, centroid_lr=3e-2, warmup_steps=0,
                          loss="lambda", eval_every=30, selection="last", seed=0)
    res = train_jpq(enc, book, pairs, cfg, lambda e, cent: seen.append(objective(cent)) or 0.0,
                    query_max_tokens=16, rotation=r)
    assert objective(res.centroids) < 0.9 * objective(book.centroids)
    assert seen[0] == pytest.approx(objective(book.centroids))    # step 0 = the OPQ index as built


def test_finetuning_the_query_encoder_lowers_the_contrastive_loss_and_selects_on_dev(tmp_path):
    enc = tiny_word_encoder(tmp_path)
    corpus = tiny_corpus(40)
    ids = ix.doc_order(corpus)
    docs = enc.encode([corpus[d] for d in ids], "doc", max_tokens=16, label=False)
    pairs, _, _ = _pairs(corpus, ids)
    before = {k: v.clone() for k, v in enc.doc.state_dict().items()}
    calls = []

    def dev(e: BiEncoder) -> float:
        calls.append(1)
        return -float(len(calls))                     # getting worse: the rule keeps step 0
    cfg = SimpleNamespace(steps=30, batch_size=16, negatives=0, lr=1e-3, warmup_steps=0, temperature=0.1,
                          eval_every=10, selection="best", seed=0)
    res = finetune_query_encoder(enc, docs, pairs, cfg, dev, query_max_tokens=16)
    losses = [h["loss"] for h in res.history if "loss" in h]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert res.best_step == 0 and len(calls) == 4
    for k, v in enc.query.state_dict().items():       # step 0 selected: the starting weights are back
        assert torch.equal(v, before[k])
    for k, v in enc.doc.state_dict().items():
        assert torch.equal(v, before[k])


def test_contrastive_loss_ignores_masked_candidates():
    q = torch.tensor([[1.0, 0.0]])
    cand = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    invalid = torch.tensor([[False, True, False]])
    loss = contrastive_loss(q, cand, torch.tensor([0]), invalid, 1.0)
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + 1.0)), rel=1e-6)


def test_teacher_scores_every_positive_and_a_seeded_pool_of_negatives():
    pairs = TrainingPairs(["a b", "c"], [[0], [1, 2]], [list(range(3, 13)), [4, 5]])
    texts = [f"doc{i}" for i in range(13)]
    seen: list[tuple[str, str]] = []

    def score(p: list[tuple[str, str]]) -> list[float]:
        seen.extend(p)
        return [len(q) * 100.0 + int(d[3:]) for q, d in p]
    out = teacher_scores(pairs, texts, score, pool=4, seed=0)
    assert len(out.negatives[0]) == 4 and set(out.negatives[0]) <= set(range(3, 13))
    assert out.negatives[1] == [4, 5] or out.negatives[1] == [5, 4]           # fewer than the pool: all kept
    assert set(out.teacher[0]) == {0, *out.negatives[0]} and set(out.teacher[1]) == {1, 2, 4, 5}
    assert out.teacher[0][0] == 300.0 and out.teacher[1][5] == 105.0
    assert len(seen) == 5 + 4                                             # each pair scored once
    assert teacher_scores(pairs, texts, score, pool=4, seed=0).negatives == out.negatives   # seeded


@pytest.mark.parametrize("train,words", [
    ({"teacher": "../monobert-s0"}, ("folder under models/", "monobert-s0")),
    ({"teacher": ""}, ("dense.train.teacher",)),
    ({"negatives": 9, "teacher_pool": 8}, ("teacher_pool", "raise teacher_pool")),
    ({"negatives": 9, "teacher_pool": 8, "distill_weight": 0.0}, None),
])
def test_a_bad_teacher_setting_is_refused_with_the_fix_and_no_teacher_needs_no_pool(train, words):
    from irprune.config import from_mapping
    from irprune.dense.config import DenseTrainConfig
    from irprune.errors import ConfigError

    if words is None:                                  # no distillation: the pool does not matter
        assert from_mapping(DenseTrainConfig, train, prefix="dense.train").distill_weight == 0.0
        return
    with pytest.raises(ConfigError) as err:
        from_mapping(DenseTrainConfig, train, prefix="dense.train")
    assert all(w in str(err.value) for w in words)


def test_distillation_loss_is_the_kl_from_the_teacher_and_zero_when_the_student_agrees():
    q = torch.tensor([[1.0, 0.0]])
    cand = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    # student logits over the query's own columns 0 and 1: 1/0.5 = 2 and 0; teacher 2 and 0 at temperature 1
    assert distillation_loss(q, cand, [[0, 1]], [[2.0, 0.0]], 0.5, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    p = torch.softmax(torch.tensor([0.0, 2.0]), 0)           # teacher prefers column 1
    s = torch.log_softmax(torch.tensor([2.0, 0.0]), 0)
    want = float((p * (p.log() - s)).sum())
    assert distillation_loss(q, cand, [[0, 1]], [[0.0, 4.0]], 0.5, 2.0).item() == pytest.approx(want, rel=1e-6)
    # a query with one candidate has no distribution: left out of the mean
    assert distillation_loss(q.repeat(2, 1), cand, [[0, 1], [2]], [[0.0, 4.0], [1.0]], 0.5, 2.0).item() == \
        pytest.approx(want, rel=1e-6)


def test_finetuning_with_a_teacher_moves_the_student_towards_its_order(tmp_path):
    corpus = tiny_corpus(40)
    ids = ix.doc_order(corpus)
    texts = [corpus[d] for d in ids]
    pairs, _, _ = _pairs(corpus, ids)
    pairs = TrainingPairs(pairs.texts, pairs.positives, [[r for r in range(40) if r not in p] for p in pairs.positives])

    def teacher(p: list[tuple[str, str]]) -> list[float]:            # the count of query words in the document
        return [float(sum(w in d.split() for w in q.split())) for q, d in p]
    pairs = teacher_scores(pairs, texts, teacher, pool=12, seed=0)

    def agreement(enc: BiEncoder, docs: np.ndarray) -> float:
        """Share of the teacher's ordered pairs of a query's scored documents the student orders alike."""
        q = enc.encode(pairs.texts, "query", max_tokens=16, label=False)
        hits = total = 0
        for i, t in enumerate(pairs.teacher):
            for a in t:
                for b in t:
                    if t[a] > t[b]:
                        total += 1
                        hits += float(q[i] @ docs[a]) > float(q[i] @ docs[b])
        return hits / total
    after = {}
    for weight in (0.0, 5.0):                          # the contrastive loss alone, then with the teacher
        enc = tiny_word_encoder(tmp_path)
        docs = enc.encode(texts, "doc", max_tokens=16, label=False)
        before = agreement(enc, docs)
        cfg = SimpleNamespace(steps=60, batch_size=8, negatives=6, lr=3e-2, warmup_steps=0, temperature=0.1,
                              eval_every=100, selection="last", seed=0, distill_weight=weight,
                              teacher_temperature=0.5)
        finetune_query_encoder(enc, docs, pairs, cfg, None, query_max_tokens=16)
        after[weight] = agreement(enc, docs)
    assert before < after[0.0] and after[5.0] > after[0.0] + 0.03


@pytest.mark.parametrize("method", ["magnitude", "gmp"])
def test_pruning_the_query_encoder_reaches_the_target_and_leaves_documents_alone(tmp_path, method):
    from irprune.dense.config import DensePruneConfig, DenseTrainConfig
    from irprune.dense.prune import encoder_prunable, prune_query_encoder
    from irprune.pruning import GMPSchedule

    enc = tiny_encoder(tmp_path)
    corpus = tiny_corpus(40)
    ids = ix.doc_order(corpus)
    docs = enc.encode([corpus[d] for d in ids], "doc", max_tokens=16, label=False)
    pairs, _, _ = _pairs(corpus, ids)
    pooler = enc.doc.pooler.dense.weight.clone()
    cfg = DensePruneConfig(recovery_steps=14, recovery_lr=1e-3, gmp=GMPSchedule(updates=3))
    achieved = prune_query_encoder(enc, method, 0.8, pairs, docs, cfg, DenseTrainConfig(batch_size=8), 0,
                                   query_max_tokens=16).achieved
    names = encoder_prunable(enc.query)
    assert "pooler.dense.weight" not in names and all("embeddings" not in n for n in names)
    assert achieved == pytest.approx(0.8, abs=0.01)
    params = dict(enc.query.named_parameters())
    for n in names:                                   # folded: plain weights with exact zeros
        assert float((params[n] == 0).float().mean()) == pytest.approx(0.8, abs=0.02)
    assert float((enc.doc.encoder.layer[0].attention.self.query.weight == 0).float().mean()) < 0.01
    assert torch.equal(enc.doc.pooler.dense.weight, pooler)


def test_recovery_draws_its_own_number_of_bm25_negatives(tmp_path, monkeypatch):
    from irprune.dense import prune as dense_prune
    from irprune.dense.config import DensePruneConfig, DenseTrainConfig

    seen, real = [], dense_prune.finetune_query_encoder

    def recording(enc, docs, pairs, rec, *args, **kw):
        seen.append(rec)
        return real(enc, docs, pairs, rec, *args, **kw)
    monkeypatch.setattr(dense_prune, "finetune_query_encoder", recording)
    enc = tiny_encoder(tmp_path)
    corpus = tiny_corpus(40)
    ids = ix.doc_order(corpus)
    docs = enc.encode([corpus[d] for d in ids], "doc", max_tokens=16, label=False)
    pairs, _, _ = _pairs(corpus, ids)
    cfg = DensePruneConfig(recovery_steps=2, recovery_lr=1e-3, recovery_negatives=3)
    dense_prune.prune_query_encoder(enc, "magnitude", 0.5, pairs, docs, cfg,
                                    DenseTrainConfig(batch_size=8, negatives=1, lr=0.5), 0, query_max_tokens=16)
    assert [(r.negatives, r.lr, r.steps) for r in seen] == [(3, 1e-3, 2)]   # not dense.train's negatives or lr


def test_cell_identity_names_every_system():
    from irprune.pipeline.dense_stage import cell_identity

    assert cell_identity("zeroshot") == ("biencoder-zeroshot", "dense")
    assert cell_identity("jpq48") == ("biencoder-m48", "jpq")
    assert cell_identity("opq96") == ("biencoder-m96", "opq")
    with pytest.raises(ValueError):
        cell_identity("ivf")


MINILM = ROOT / ".cache" / "models" / "minilm-l6"


@pytest.mark.skipif(not (MINILM / "model.safetensors").is_file(),
                    reason=f"the all-MiniLM-L6-v2 checkpoint is not in {MINILM} (run `make setup` to fetch it)")
def test_the_real_checkpoint_ranks_a_paraphrase_first():
    from irprune import weights

    enc = BiEncoder.load(weights.resolve("minilm-l6", cache=ROOT / ".cache" / "models"))
    docs = ["The cat sits on the mat.", "Stock markets fell sharply on Monday.", "A recipe for apple pie."]
    d = enc.encode(docs, "doc", max_tokens=32, label=False)
    q = enc.encode(["how do I bake a pie with apples"], "query", max_tokens=32, label=False)
    assert int(np.argmax(q @ d.T)) == 2
    assert enc.dim == 384 and np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)


def test_training_both_sides_updates_the_shared_encoder(tmp_path):
    enc = tiny_word_encoder(tmp_path)
    corpus = tiny_corpus(40)
    ids = ix.doc_order(corpus)
    texts = [corpus[d] for d in ids]
    docs = enc.encode(texts, "doc", max_tokens=16, label=False)
    pairs, _, _ = _pairs(corpus, ids)
    cfg = SimpleNamespace(steps=30, batch_size=16, negatives=0, lr=1e-2, warmup_steps=0, temperature=0.1,
                          eval_every=100, selection="last", seed=0)
    res = finetune_query_encoder(enc, docs, pairs, cfg, None, query_max_tokens=16, doc_texts=texts,
                                 doc_max_tokens=16)
    losses = [h["loss"] for h in res.history if "loss" in h]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert enc.query is enc.doc
    assert not np.allclose(enc.encode(texts, "doc", max_tokens=16, label=False), docs)
    with pytest.raises(ValueError, match="shared encoder"):
        finetune_query_encoder(enc.split(), docs, pairs, cfg, None, query_max_tokens=16, doc_texts=texts)


def test_parse_trained_inverts_the_trained_name_and_refuses_others():
    from irprune import paths

    assert paths.parse_trained(paths.trained("conv_knrm", 12)) == ("conv_knrm", 12)
    assert paths.parse_trained("dense") is None and paths.parse_trained("monobert-sx") is None
