"""Translation task: the synthetic grammar (determinism, reordering, agreement), BLEU against a published vector
and an independent implementation of its formula, Multi30k conversion, the vocabulary, beam 1 == greedy, and a
tiny training run that beats the word-by-word baseline."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch

from irprune.errors import DataFormatError
from irprune.tasks.common import TaskTrainConfig, fit
from irprune.tasks.translation import (DecodeConfig, Grammar, GrammarConfig, Seq2SeqConfig, SeqVocab,
                                       TranslationTask, TranslationTaskConfig, beam_decode, corpus_bleu,
                                       greedy_decode, make_parallel_corpus, pairs_from_records)
from irprune.tasks.translation.synthetic import _ADJ_SUFFIX, _VERB_SUFFIX

SMALL = GrammarConfig(n_train=1500, n_test=100, n_nouns=6, n_verbs=3, n_adjectives=4)


def _ref_bleu(hyps: list[list[str]], refs: list[list[str]]) -> float:
    """Papineni et al. (2002): clipped n-gram precisions p_1..p_4, uniform weights, BP = min(1, e^(1 - r/c))."""
    logs = []
    for n in range(1, 5):
        match = total = 0
        for h, r in zip(hyps, refs):
            hc = Counter(tuple(h[i: i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i: i + n]) for i in range(len(r) - n + 1))
            match += sum(min(c, rc[g]) for g, c in hc.items())
            total += sum(hc.values())
        logs.append(math.log(match / total))
    c, r = sum(map(len, hyps)), sum(map(len, refs))
    return 100 * min(1.0, math.exp(1 - r / c)) * math.exp(sum(logs) / 4)


def test_bleu_published_vector_and_formula():
    import sacrebleu

    # sacrebleu's README example (Post, 2018): BLEU = 48.53, BP = 0.943
    sys_ = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    refs = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
            ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
    assert sacrebleu.corpus_bleu(sys_, refs).score == pytest.approx(48.530827, abs=1e-5)
    hyps = [s.split() for s in ["the cat sat on the mat today", "a dog runs in the big park",
                                "he reads a very long book"]]
    refs1 = [s.split() for s in ["the cat sat on a mat", "the dog runs in the big park",
                                 "he reads the long book slowly"]]
    assert corpus_bleu(hyps, refs1) == pytest.approx(_ref_bleu(hyps, refs1), abs=1e-9)
    assert corpus_bleu(refs1, refs1) == pytest.approx(100.0)


def _check_sentence(gr: Grammar, src: tuple[str, ...], tgt: tuple[str, ...]) -> None:
    lex = gr.lex
    assert len(src) == len(tgt)
    verbs = {v + s: k for v in lex.tgt_verbs for k, s in _VERB_SUFFIX.items()}
    assert tgt[-1] in verbs  # SOV: the verb is last
    src_verb = next(w for w in src if w.rstrip("s") in lex.src_verbs or w in lex.src_verbs)
    subj_number = "sg" if src_verb not in lex.src_verbs else "pl"
    assert verbs[tgt[-1]] == subj_number  # subject-verb agreement across the reordering
    gender = dict(zip(lex.tgt_nouns, lex.genders))
    det_of = {w: k for k, w in lex.tgt_dets.items()}
    i = 0
    while i < len(tgt) - 1:  # NP = DET N ADJ*
        definite, g_det, n_det = det_of[tgt[i]]
        noun = tgt[i + 1]
        lemma, number = (noun[:-2], "pl") if noun[:-2] in gender and noun.endswith("en") else (noun, "sg")
        assert gender[lemma] == g_det and n_det == number  # determiner agrees with the noun
        i += 2
        while i < len(tgt) - 1 and tgt[i] not in det_of:
            assert tgt[i][len(tgt[i]) - 1:] == _ADJ_SUFFIX[(gender[lemma], number)]  # adjective agrees
            i += 1


def test_grammar_deterministic_reorders_and_agrees():
    a, b = make_parallel_corpus(SMALL), make_parallel_corpus(SMALL)
    assert a == b and make_parallel_corpus(GrammarConfig(seed=12, n_train=50, n_test=5)).train != a.train
    gr = Grammar(SMALL)
    for src, tgt in a.train[:300]:
        _check_sentence(gr, src, tgt)
    assert sum(len(s) > 5 for s, _ in a.train) > 100  # adjectives occur
    # the monotone word-by-word oracle gets the words but not the order/agreement: low BLEU
    wbw = corpus_bleu([gr.word_by_word(s) for s, _ in a.test], [list(t) for _, t in a.test])
    assert wbw < 10.0


def test_multi30k_conversion_on_local_file(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [{"en": "Two dogs play in the snow.", "de": "Zwei Hunde spielen im Schnee."},
            {"en": "A man rides a bike.", "de": "Ein Mann fährt Fahrrad."}]
    path = tmp_path / "m30k.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    pairs = pairs_from_records(ds, "de", "en")
    assert pairs[0] == (("zwei", "hunde", "spielen", "im", "schnee", "."),
                        ("two", "dogs", "play", "in", "the", "snow", "."))
    assert pairs[1][0] == ("ein", "mann", "fährt", "fahrrad", ".")
    with pytest.raises(DataFormatError, match="expected 'de' and 'en'"):
        pairs_from_records([{"fr": "x", "en": "y"}])
    with pytest.raises(DataFormatError, match="empty source"):
        pairs_from_records([{"de": "  ", "en": "y"}])


def test_seq_vocab_roundtrip(tmp_path):
    v = SeqVocab.build([["b", "a", "b"], ["c"]])
    assert v.tokens == ("<pad>", "<unk>", "<bos>", "<eos>", "b", "a", "c")
    ids = v.encode(["a", "zzz"], bos=True)
    assert ids == [2, 5, 1, 3] and v.decode(ids + [4]) == ["a", "<unk>"]
    v.save(tmp_path / "v.json")
    assert SeqVocab.load(tmp_path / "v.json") == v
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(DataFormatError, match="bad.json"):
        SeqVocab.load(tmp_path / "bad.json")


@pytest.fixture(scope="module")
def trained():
    """A tiny seq2seq trained on the small grammar (one thread: fast and deterministic on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = TranslationTaskConfig(
            synthetic=SMALL, seq2seq=Seq2SeqConfig(d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                                   dim_feedforward=64),
            train=TaskTrainConfig(epochs=5, lr=3e-3, batch_size=32, device="cpu"))
        task = TranslationTask(cfg)
        model = task.build_model("seq2seq", 0)
        before = task.evaluate(model)["bleu"]
        fit(model, lambda e: task.batches(e, 0), task.loss, task.cfg.train, task.device)
        yield task, model, before
    finally:
        torch.set_num_threads(threads)


def test_beam_one_equals_greedy(trained):
    task, model, _ = trained
    for ids in task.test_src[:12]:
        src = torch.tensor(ids)[None]
        g = greedy_decode(model, src, 15)[0]
        assert beam_decode(model, src, 15, beam_size=1) == g
        b4 = beam_decode(model, src, 15, beam_size=4)
        assert len(b4) <= 15 and all(3 < i < len(task.tgt_vocab) for i in b4)


def test_tiny_training_beats_word_by_word(trained):
    task, model, before = trained
    after = task.evaluate(model)["bleu"]
    baseline = task.word_by_word_bleu()
    assert before < 5.0 and after > baseline + 20.0, (before, after, baseline)
    beam = TranslationTask(TranslationTaskConfig(**{**task.cfg.__dict__, "decode": DecodeConfig(beam_size=3)}),
                           data=task.data)
    assert beam.evaluate(model)["bleu"] > baseline + 20.0
