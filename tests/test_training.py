"""The shared trainer: losses against their formulas, sampling, learning, determinism, resume, early stopping."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from irprune.config import ConfigError, from_mapping
from irprune.errors import DataFormatError
from irprune.models import build_model, model_config
from irprune.text import Vocab
from irprune.training import LambdaCallback, TrainConfig, Trainer, TrainerCallback, batch_groups, build_pool
from irprune.training.losses import group_loss
from irprune.training.sampling import epoch_order, sample_group

WORDS = [f"w{i}" for i in range(60)]


def _problem(n_queries: int = 24, seed: int = 0) -> tuple[dict, dict, dict, dict]:
    """Queries of 2 words; the positive holds them adjacent and in order, negatives hold one or none of them."""
    rng = random.Random(seed)
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    cands: dict[str, dict[str, float]] = {}
    for q in range(n_queries):
        a, b = rng.sample(WORDS, 2)
        queries[f"q{q}"] = f"{a} {b}"
        filler = lambda k: " ".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
        corpus[f"d{q}p"] = f"{filler(3)} {a} {b} {filler(3)}"
        qrels[f"q{q}"] = {f"d{q}p": 1}
        cands[f"q{q}"] = {f"d{q}p": 5.0}
        for j in range(4):
            corpus[f"d{q}n{j}"] = f"{filler(3)} {a if j % 2 else 'zz'} {filler(4)}"
            cands[f"q{q}"][f"d{q}n{j}"] = 4.0 - j
    return corpus, queries, qrels, cands


CFG = dict(loss="listwise", negatives=3, negative_depth=10, batch_queries=4, epochs=3, lr=0.01, warmup_frac=0.0,
           eval_every=3, checkpoint_every=2, selection="last", seed=3, device="cpu", threads=1, progress=False)


def _setup(**overrides: Any) -> tuple[Any, Any, TrainConfig]:
    corpus, queries, qrels, cands = _problem()
    pool = build_pool(queries, qrels, cands, corpus, depth=10)
    vocab = Vocab.build([corpus[d] for d in sorted(corpus)] + ["zz"])
    cfg = from_mapping(TrainConfig, {**CFG, **overrides})
    model = build_model("conv_knrm", model_config("conv_knrm", "small", {
        "embedding_dim": 8, "n_filters": 4, "max_ngram": 2, "final_activation": "none",
        "max_query_len": 4, "max_doc_len": 12}), vocab, seed=cfg.seed)
    return model, pool, cfg


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- losses --------------------------------------------------------------------------------------------------
def test_losses_match_their_formulas() -> None:
    s = [[2.0, 1.0, -0.5], [0.3, 0.9, 0.1]]
    t = torch.tensor(s)
    lw = sum(-x[0] + math.log(sum(math.exp(v) for v in x)) for x in s) / 2
    rn = sum(math.log1p(math.exp(n - x[0])) for x in s for n in x[1:]) / 4
    hg = sum(max(0.0, 0.5 - x[0] + n) for x in s for n in x[1:]) / 4
    assert group_loss("listwise", t) == pytest.approx(lw, rel=1e-6)
    assert group_loss("ranknet", t) == pytest.approx(rn, rel=1e-6)
    assert group_loss("hinge", t, margin=0.5) == pytest.approx(hg, rel=1e-6)
    with pytest.raises(Exception, match="unknown loss 'bpr'"):
        group_loss("bpr", t)


# --- sampling ------------------------------------------------------------------------------------------------
def test_pool_excludes_positives_from_negatives_and_counts_skips() -> None:
    corpus, queries, qrels, cands = _problem(6)
    qrels["q0"]["d0n0"] = 1                           # a judged positive among the candidates is not a negative
    qrels["qx"] = {"nope": 1}                         # no text and no document: skipped, counted
    qrels["q1"] = {"d1p": 0}                          # no positive label
    pool = build_pool(queries, qrels, cands, corpus, depth=3)
    assert "d0n0" not in pool.negatives["q0"] and pool.positives["q0"] == ["d0n0", "d0p"]
    assert pool.negatives["q2"] == ["d2n0", "d2n1"]   # BM25 top-3 minus the positive, in BM25 order
    assert "q1" not in pool.positives and pool.skipped.counts == {"qrels query without text": 1,
                                                                   "no positive document": 1}
    with pytest.raises(DataFormatError, match="no training query"):
        build_pool(queries, {"q0": {"d0p": 0}}, cands, corpus)


def test_sampling_is_a_pure_function_of_seed_epoch_position() -> None:
    corpus, queries, qrels, cands = _problem(10)
    pool = build_pool(queries, qrels, cands, corpus)
    a = [batch_groups(pool, 2, 4, seed=1, epoch=0, batch=b) for b in range(3)]
    assert a == [batch_groups(pool, 2, 4, seed=1, epoch=0, batch=b) for b in range(3)]
    assert sorted(q for batch in a for q, _ in batch) == pool.qids          # every query once per epoch
    assert [len(b) for b in a] == [4, 4, 2]
    assert epoch_order(10, 1, 0).tolist() != epoch_order(10, 1, 1).tolist()
    for batch in a:
        for qid, docs in batch:
            assert docs[0] in pool.positives[qid] and len(set(docs[1:])) == 2
            assert set(docs[1:]) <= set(pool.negatives[qid])
    qid = pool.qids[0]
    many = sample_group(pool, qid, 9, 0, 0, 0)[1]                          # more than the 4 negatives: repeats
    assert len(many) == 10 and set(many[1:]) <= set(pool.negatives[qid])


# --- learning, determinism -----------------------------------------------------------------------------------
def _group_accuracy(model: Any, pool: Any) -> float:
    from irprune.rerank import score_pairs

    ok = 0
    for qid in pool.qids:
        docs = [pool.positives[qid][0], *pool.negatives[qid]]
        s = score_pairs(model, [(pool.queries[qid], pool.corpus[d]) for d in docs])
        ok += s[0] > max(s[1:])
    return ok / len(pool)


def test_loss_decreases_and_ranking_improves_on_a_tiny_problem() -> None:
    model, pool, cfg = _setup(epochs=8, lr=0.1)
    before = _group_accuracy(model, pool)
    res = Trainer(model, cfg, pool).fit()
    assert res.steps == 8 * 6
    first, last = sum(res.losses[:6]) / 6, sum(res.losses[-6:]) / 6
    assert last < 0.6 * first, (first, last)
    assert _group_accuracy(model, pool) > max(before, 0.8)


def test_two_runs_with_the_same_seed_give_identical_weights() -> None:
    m1, pool, cfg = _setup()
    Trainer(m1, cfg, pool).fit()
    m2, pool2, _ = _setup()
    Trainer(m2, cfg, pool2).fit()
    assert _same(_weights(m1), _weights(m2))
    m3, pool3, cfg3 = _setup(seed=4)
    Trainer(m3, cfg3, pool3).fit()
    assert not _same(_weights(m1), _weights(m3))


def test_hooks_run_in_order_with_gradients_and_step_counts() -> None:
    model, pool, cfg = _setup(epochs=1)
    seen: list[tuple[str, int]] = []

    class Probe(TrainerCallback):
        def after_backward(self, t: Trainer) -> None:
            assert all(p.grad is not None for p in t.params)
            seen.append(("backward", t.global_step))

        def after_optimizer_step(self, t: Trainer) -> None:
            seen.append(("step", t.global_step))

    Trainer(model, cfg, pool, callbacks=[Probe()]).fit()
    assert seen == [e for k in range(6) for e in (("backward", k), ("step", k + 1))]
    with pytest.raises(TypeError, match="unknown hook"):
        LambdaCallback(after_step=lambda t: None)


# --- resume --------------------------------------------------------------------------------------------------
class Kill(Exception):
    pass


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path: Path) -> None:
    ref, pool, cfg = _setup()
    ref_res = Trainer(ref, cfg, pool).fit()

    def die(t: Trainer) -> None:
        if t.global_step == 7:                                 # state saved at step 6; steps 7.. are lost
            raise Kill()

    state = tmp_path / "state"
    model, pool, _ = _setup()
    with pytest.raises(Kill):
        Trainer(model, cfg, pool, state_dir=state, callbacks=[LambdaCallback(after_optimizer_step=die)]).fit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]        # no temporary directory left
    model, pool, _ = _setup()
    res = Trainer(model, cfg, pool, state_dir=state).fit()
    assert res.resumed_from == 6 and res.losses == ref_res.losses
    assert _same(_weights(model), _weights(ref))


def test_a_kill_while_saving_keeps_the_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import irprune.training.state as st

    state = tmp_path / "state"
    model, pool, cfg = _setup(epochs=1)                        # 6 steps, state at 2, 4, 6
    real = st.atomic_write_json
    calls = {"n": 0}

    def flaky(path: Any, obj: Any, indent: int = 2) -> None:
        calls["n"] += 1
        if calls["n"] == 2:                                    # the save at step 4 dies half-way
            raise Kill()
        real(path, obj, indent)

    monkeypatch.setattr(st, "atomic_write_json", flaky)
    with pytest.raises(Kill):
        Trainer(model, cfg, pool, state_dir=state).fit()
    monkeypatch.setattr(st, "atomic_write_json", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]
    model, pool, _ = _setup(epochs=1)
    assert Trainer(model, cfg, pool, state_dir=state).fit().resumed_from == 2


def test_a_state_for_other_settings_or_a_corrupt_one_restarts_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    model, pool, cfg = _setup(epochs=1)
    Trainer(model, cfg, pool, state_dir=state).fit()
    model, pool, cfg2 = _setup(epochs=1, lr=0.02)
    assert Trainer(model, cfg2, pool, state_dir=state).fit().resumed_from == 0
    (state / "state.safetensors").write_bytes(b"\x00garbage")
    model, pool, _ = _setup(epochs=1, lr=0.02)
    assert Trainer(model, cfg2, pool, state_dir=state).fit().resumed_from == 0
    t = Trainer(*_setup(epochs=1)[:1], cfg, pool, state_dir=state)
    t.clear_state()
    assert not state.exists()


# --- early stopping and selection ----------------------------------------------------------------------------
def test_early_stopping_selects_the_earliest_best_and_restores_its_weights() -> None:
    values = iter([0.1, 0.3, 0.3, 0.2, 0.9])          # the 0.9 is never reached with patience 2
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def evaluator(model: Any) -> dict[str, float]:
        return {"mrr@10": next(values)}

    def snap(t: Trainer, record: dict) -> None:
        snapshots[record["step"]] = _weights(t.model)

    model, pool, cfg = _setup(epochs=4, eval_every=2, selection="best", patience=2)
    res = Trainer(model, cfg, pool, evaluator=evaluator, callbacks=[LambdaCallback(on_evaluate=snap)]).fit()
    assert [e["step"] for e in res.evaluations] == [2, 4, 6, 8] and res.stopped_early and res.steps == 8
    assert [e["best"] for e in res.evaluations] == [True, True, False, False]
    assert res.selected_step == 4 and res.selected_metric == 0.3          # tie at step 6 goes to the earlier one
    assert _same(_weights(model), snapshots[4])


def test_min_delta_and_last_selection() -> None:
    values = iter([0.30, 0.305, 0.5])

    def evaluator(model: Any) -> dict[str, float]:
        return {"mrr@10": next(values)}

    model, pool, cfg = _setup(epochs=1, eval_every=2, selection="best", min_delta=0.01)
    res = Trainer(model, cfg, pool, evaluator=evaluator).fit()
    assert [e["best"] for e in res.evaluations] == [True, False, True] and res.selected_step == 6
    values = iter([0.9, 0.1, 0.2])
    model, pool, cfg = _setup(epochs=1, eval_every=2, selection="last")
    final = Trainer(model, cfg, pool, evaluator=lambda m: {"mrr@10": next(values)}).fit()
    assert final.selected_step == 6 and final.selected_metric == 0.2
    with pytest.raises(ValueError, match="needs a dev evaluator"):
        Trainer(model, from_mapping(TrainConfig, {**CFG, "selection": "best"}), pool)


def test_eval_at_start_lets_selection_keep_the_starting_weights() -> None:
    values = iter([0.8, 0.3, 0.5, 0.4])

    model, pool, cfg = _setup(epochs=1, eval_every=2, selection="best", eval_at_start=True)
    start = _weights(model)
    res = Trainer(model, cfg, pool, evaluator=lambda m: {"mrr@10": next(values)}).fit()
    assert [e["step"] for e in res.evaluations] == [0, 2, 4, 6] and res.evaluations[0]["train_loss"] is None
    assert res.selected_step == 0 and res.selected_metric == 0.8 and res.steps == 6
    assert _same(_weights(model), start)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="train.loss"):
        from_mapping(TrainConfig, {"loss": "pointwise"}, prefix="train")
    with pytest.raises(ConfigError, match="train.metric"):
        from_mapping(TrainConfig, {"metric": "mrr@0"}, prefix="train")
