"""Inference engines (detection, missing-engine notes, ONNX export agreement, the CSR path, the DeepSparse worker
protocol, telemetry) and structured pruning (sliced model == masked model, shapes shrink), on a 1-layer BERT."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from irprune.config import from_mapping
from irprune.costs import CostsConfig, measure_costs
from irprune.costs import engines as eng
from irprune.costs.onnx_export import agreement, export_onnx
from irprune.errors import ConfigError, RegistryError
from irprune.models.monobert import MonoBERT, MonoBERTConfig
from irprune.pruning import (apply_mask, ffn_blocks, neuron_importance, neurons_to_prune, plan_structured,
                             prunable_parameters, prune_ffn_neurons, prune_heads, prune_oneshot, prune_structured,
                             structured_mask)

ROOT = Path(__file__).resolve().parents[1]


def tiny_monobert(seed: int = 0, layers: int = 1, text: Any = None, **head: Any) -> MonoBERT:
    """monoBERT's forward around a 1-layer BERT (hidden 32, 4 heads, FFN 64); ``head`` overrides its config (the
    head), ``text`` stands in for the tokenizer where the head needs its special ids (batches are made directly)."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, num_labels=2)
    bert = BertForSequenceClassification(cfg)
    with torch.no_grad():                           # a score head of the encoder's scale, so scores spread
        bert.classifier.weight.normal_(0.0, 1.0)
    return MonoBERT(MonoBERTConfig(hidden=32, layers=layers, heads=4, intermediate=64, **head), text, bert).eval()


def batches(n: int = 3, rows: int = 12, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        width = 10 + 3 * i
        ids = torch.randint(1, 100, (rows, width), generator=g)
        att = torch.ones_like(ids)
        for r in range(rows):                       # ragged rows: padding at the end, as collate makes them
            real = int(torch.randint(5, width + 1, (1,), generator=g))
            att[r, real:] = 0
            ids[r, real:] = 0
        tt = torch.zeros_like(ids)
        tt[:, 4:] = 1
        out.append({"input_ids": ids, "token_type_ids": tt, "attention_mask": att})
    return out


def scores(model: torch.nn.Module, bs: list[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [model(b) for b in bs]


# --- detection ------------------------------------------------------------------------------------------------
def test_every_engine_is_detected_or_noted_with_its_install_line() -> None:
    found = eng.available_engines()
    assert set(found) == set(eng.ENGINES.names())
    assert found["torch"] is None and found["torch-csr"] is None
    for name, note in found.items():
        assert note is None or note.startswith("not installed: "), (name, note)
    assert set(eng.installed_engines()) == {n for n, v in found.items() if v is None}


def test_a_missing_engine_is_a_note_and_the_others_are_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    real = eng._find
    monkeypatch.setattr(eng, "_find", lambda m: False if m == "onnxruntime" else real(m))
    monkeypatch.setenv(eng.DEEPSPARSE_PYTHON_ENV, "/nonexistent/python")
    rec = eng.measure_engines(tiny_monobert(), batches(2), ["torch", "onnxruntime", "deepsparse"], warmup=0,
                              repeats=1)
    assert list(rec) == ["torch", "onnxruntime", "deepsparse"]
    assert rec["onnxruntime"]["status"] == "not installed"
    assert rec["onnxruntime"]["note"] == "not installed: pip install onnxruntime onnx"
    assert rec["deepsparse"]["status"] == "not installed" and "/nonexistent/python" in rec["deepsparse"]["note"]
    assert rec["torch"]["status"] == "measured" and rec["torch"]["n"] == 2 and rec["torch"]["speedup_vs_torch"] == 1.0
    with pytest.raises(RegistryError, match="known inference engines"):
        eng.measure_engines(tiny_monobert(), batches(1), ["tensorrt"])


def test_costs_config_rejects_unknown_engines() -> None:
    assert from_mapping(CostsConfig, {"engines": ["torch", "openvino-int8"]}).engines == ("torch", "openvino-int8")
    with pytest.raises(ConfigError, match="costs.engines.*tensorrt.*known engines: deepsparse"):
        from_mapping(CostsConfig, {"engines": ["tensorrt"]})


def test_an_engine_that_fails_is_recorded_and_the_cell_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: eng.PrepareContext) -> eng.Runner:
        raise RuntimeError("simulated\ncompiler crash")
    spec = eng.ENGINES.get("torch-csr")
    monkeypatch.setitem(eng.ENGINES._items, "torch-csr", eng.Engine("torch-csr", spec.summary, spec.pip,
                                                                    spec.licence, broken))
    rec = eng.measure_engines(tiny_monobert(), batches(1), ["torch", "torch-csr"], warmup=0, repeats=1)
    assert rec["torch-csr"]["status"] == "not measured"
    assert rec["torch-csr"]["note"] == "not measured: RuntimeError: simulated compiler crash"
    assert rec["torch"]["median_ms"] > 0


# --- agreement ----------------------------------------------------------------------------------------------------
def test_agreement_counts_reorders_but_not_exact_ties() -> None:
    ref = [np.array([3.0, 2.0, 1.0, 0.0]), np.array([1.0, 1.0, 1.0, 0.0])]
    same = agreement(ref, [np.array([3.1, 2.0, 1.0, 0.0]), np.array([1.0, 1.2, 1.1, 0.0])], k=3)
    assert same["top3_same_order"] == 1.0 and same["max_abs_diff"] == pytest.approx(0.2)   # ties free
    swapped = agreement(ref, [np.array([2.0, 3.0, 1.0, 0.0]), np.array([1.0, 1.0, 1.0, 0.0])], k=3)
    assert swapped["top3_same_order"] == 0.5
    outside = agreement([np.array([3.0, 2.0, 1.0, 0.0])], [np.array([3.0, 2.0, 0.0, 1.0])], k=2)
    assert outside["top2_same_order"] == 1.0          # below the top k: not counted


# --- export and engines agree with torch ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_exported_engines_agree_with_torch_on_a_tiny_bert(name: str) -> None:
    if eng.ENGINES.get(name).missing():
        pytest.skip(eng.ENGINES.get(name).missing())
    model = tiny_monobert()
    bs = batches(3)
    rec = eng.measure_engines(model, bs, ["torch", name], warmup=1, repeats=1, threads=1)[name]
    assert rec["status"] == "measured", rec["note"]
    assert rec["max_abs_diff"] < 1e-4 and rec["top10_same_order"] == 1.0
    assert rec["info"]["onnx_exporter"] == "torchscript" and rec["n"] == 3
    ref = scores(model, bs)
    assert max(float(r.std()) for r in ref) > 0.05          # the scores spread, so the order test means something


def test_export_names_every_input_and_keeps_the_model_untouched(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    model = tiny_monobert()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = export_onnx(model, batches(1)[0], tmp_path / "m.onnx")
    assert res.ok and res.path is not None and res.path.is_file()
    assert res.input_names == ("input_ids", "token_type_ids", "attention_mask")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    bad = export_onnx(model, {"nothing": torch.zeros(2, 3)}, tmp_path / "bad.onnx")
    assert not bad.ok and "torchscript:" in (bad.error or "")


def test_csr_path_equals_dense_on_a_pruned_bert() -> None:
    model = tiny_monobert()
    prune_oneshot(model, "magnitude", 0.8, prunable=prunable_parameters(model, ("linear",)))
    rec = eng.measure_engines(model, batches(2), ["torch", "torch-csr"], warmup=0, repeats=1)["torch-csr"]
    assert rec["status"] == "measured" and rec["max_abs_diff"] < 1e-5 and rec["top10_same_order"] == 1.0
    assert rec["info"]["csr_linear_layers"] == 8           # q k v o, intermediate, output, pooler, classifier


def test_static_padding_keeps_bert_scores() -> None:
    model = tiny_monobert()
    bs = batches(2)
    bs[1] = {k: v[:7] for k, v in bs[1].items()}           # fewer rows than the first batch
    padded, rows = eng.pad_static(eng._numpy_batches(bs))
    assert rows == [12, 7] and all(p["input_ids"].shape == (12, 13) for p in padded)
    with torch.inference_mode():
        for b, p, r in zip(bs, padded, rows):
            torch.testing.assert_close(model(eng._to_torch(p))[:r], model(b), rtol=1e-5, atol=1e-5)


def test_deepsparse_worker_protocol_with_a_stand_in_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker process and its protocol, with a stand-in ``deepsparse`` module that runs the graph on ONNX
    Runtime and insists on static shapes (what DeepSparse compiles for)."""
    if eng.ENGINES.get("onnxruntime").missing():
        pytest.skip("the stand-in runs on onnxruntime")
    fake = tmp_path / "fake" / "deepsparse"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(textwrap.dedent('''
        import onnxruntime as ort
        __version__ = "0.0-stand-in"
        class _Engine:
            def __init__(self, path, shapes):
                self.s, self.shapes = ort.InferenceSession(path, providers=["CPUExecutionProvider"]), shapes
            def run(self, arrays):
                assert [list(a.shape) for a in arrays] == self.shapes, "static shapes"
                names = [i.name for i in self.s.get_inputs()]
                return self.s.run(None, dict(zip(names, arrays)))
        def compile_model(path, batch_size, num_cores, input_shapes):
            assert all(s[0] == batch_size for s in input_shapes)
            return _Engine(path, input_shapes)
    '''))
    monkeypatch.setenv(eng.DEEPSPARSE_PYTHON_ENV, sys.executable)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))     # the stand-in's ONNX Runtime cache
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")]))
    bs = batches(2)
    bs[1] = {k: v[:9] for k, v in bs[1].items()}
    rec = eng.measure_engines(tiny_monobert(), bs, ["torch", "deepsparse"], warmup=1, repeats=2)["deepsparse"]
    assert rec["status"] == "measured", rec["note"]
    assert rec["info"]["version"] == "0.0-stand-in" and rec["n"] == 4
    assert rec["max_abs_diff"] < 1e-4 and rec["top10_same_order"] == 1.0


def test_engine_imports_write_nothing_under_home(tmp_path: Path) -> None:
    mods = [m for m in ("openvino", "onnxruntime", "nncf") if eng._find(m)]
    if not mods:
        pytest.skip("no engine with telemetry installed")
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NNCF_CI", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT / "lib"))
    code = "from irprune.costs.engines import import_quietly\n" + "".join(f"import_quietly({m!r})\n" for m in mods)
    if "onnxruntime" in mods:       # a session that runs: ONNX Runtime writes its event store then
        code += textwrap.dedent('''
            import torch, onnxruntime as ort
            torch.onnx.export(torch.nn.Linear(3, 2), (torch.zeros(1, 3),), "lin.onnx", dynamo=False)
            ort.InferenceSession("lin.onnx", providers=["CPUExecutionProvider"]).run(None, {
                ort.InferenceSession("lin.onnx").get_inputs()[0].name: __import__("numpy").zeros((1, 3), "float32")})
        ''')
    if "openvino" in mods:
        code += "import openvino_telemetry as t; print(t.Telemetry().consent)\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                         timeout=900)   # nncf imports slowly on a busy machine
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
    if "openvino" in mods:
        assert out.stdout.strip().endswith("False")        # OpenVINO's collector declined


def test_measure_costs_row_has_an_engine_record_per_configured_engine() -> None:
    from irprune.models import build_model
    from irprune.text import Vocab

    vocab = Vocab.build(["the quick brown fox jumps over the lazy dog", "neural ranking models"])
    model = build_model("conv_knrm", {"embedding_dim": 16, "n_filters": 8, "max_query_len": 4, "max_doc_len": 16},
                        vocab, seed=0)
    cfg = from_mapping(CostsConfig, {"engines": ["torch", "torch-csr"],
                                     "latency": {"k": 4, "n_queries": 2, "warmup": 0, "repeats": 1}})
    row = measure_costs(model, cfg)
    assert set(row["engines"]) == {"torch", "torch-csr"}
    assert row["latency_median_ms"] == row["engines"]["torch"]["median_ms"] and row["latency_n"] == 2
    assert row["latency_torch_csr_median_ms"] == row["engines"]["torch-csr"]["median_ms"]
    assert row["speedup_torch"] == 1.0


# --- structured pruning --------------------------------------------------------------------------------------------
def test_removing_heads_and_neurons_equals_masking_them() -> None:
    model = tiny_monobert(layers=2)
    heads, neurons = {0: [1, 3], 1: [0]}, {0: [0, 5, 7], 1: list(range(10, 40))}
    masked = copy.deepcopy(model)
    apply_mask(masked, structured_mask(masked, heads, neurons))
    sliced = copy.deepcopy(model)
    prune_heads(sliced.bert, heads)
    prune_ffn_neurons(sliced.bert, neurons)
    bs = batches(2)
    for a, b, dense in zip(scores(sliced, bs), scores(masked, bs), scores(model, bs)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(a, dense, atol=1e-4)      # something was really removed
    layer0, layer1 = sliced.bert.bert.encoder.layer
    assert layer0.attention.self.query.out_features == 16 and layer0.attention.output.dense.in_features == 16
    assert layer1.attention.self.value.out_features == 24
    assert layer0.intermediate.dense.out_features == 61 and layer0.output.dense.in_features == 61
    assert layer1.intermediate.dense.out_features == 34
    assert sliced.bert.config.pruned_ffn_neurons == {0: [0, 5, 7], 1: list(range(10, 40))}
    removed = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in sliced.parameters())
    zeros = sum(int((~k).sum()) for k in structured_mask(model, heads, neurons).values())
    assert removed > zeros                                   # slicing also drops the removed rows' biases


def test_neuron_importance_is_mean_activation_times_output_norm() -> None:
    model = tiny_monobert()
    bs = batches(2)
    imp = neuron_importance(model.bert, bs, lambda m, b: model(b), normalize=False)
    inter, out = ffn_blocks(model.bert)[0]
    acts = []
    hook = inter.register_forward_hook(lambda mod, i, o: acts.append(o.detach()))
    scores(model, bs)
    hook.remove()
    real = torch.cat([a[b["attention_mask"].bool()] for a, b in zip(acts, bs)])     # tokens, not padding
    expected = real.abs().mean(dim=0) * out.dense.weight.detach().norm(dim=0)
    torch.testing.assert_close(imp[0], expected, rtol=1e-4, atol=1e-7)
    assert neurons_to_prune([torch.tensor([0.3, 0.1, 0.2]), torch.tensor([0.05, 0.9])], 2) == {0: [1], 1: [0]}
    assert neurons_to_prune([torch.tensor([0.3, 0.1]), torch.tensor([0.05, 0.9])], 2) == {0: [1], 1: [0]}
    with pytest.raises(ConfigError, match="at most 3 can go"):
        neurons_to_prune([torch.tensor([0.3, 0.1]), torch.tensor([0.05, 0.9, 1.0])], 4)


def test_prune_structured_reaches_the_target_fraction_of_prunable_weights() -> None:
    model = tiny_monobert(layers=2)
    prunable = sum(p.numel() for p in prunable_parameters(model, ("linear",)).values())
    bs = batches(2)
    report = prune_structured(model.bert, 0.5, prunable, bs,
                              lambda m, b: model(b).pow(2).mean(), lambda m, b: model(b))
    plan = report["plan"]
    assert plan["n_heads"] == round(plan["fraction"] * 8) and plan["n_neurons"] == round(plan["fraction"] * 128)
    kept = sum(p.numel() for p in prunable_parameters(model, ("linear",)).values())
    assert 1 - kept / prunable == pytest.approx(0.5, abs=0.03)
    assert all(np.isfinite(s.numpy()).all() for s in scores(model, bs))
    with pytest.raises(ConfigError, match="the most this model allows"):
        plan_structured(tiny_monobert(layers=2).bert, 0.97, prunable)


def test_structured_cell_removes_weights_and_recovers() -> None:
    """The ``structured`` method of the pruning grid on a tiny monoBERT: sparsity = removed prunable weights."""
    from irprune.models import build_model
    from irprune.prune_cell import PruneConfig, run_cell
    from irprune.text import WordPieceConfig, train_wordpiece
    from irprune.training import TrainConfig, build_pool

    words = [f"w{i}" for i in range(30)]
    corpus = {f"d{i}": " ".join(words[(i + j) % 30] for j in range(8)) for i in range(30)}
    queries = {f"q{i}": f"{words[i]} {words[(i + 1) % 30]}" for i in range(8)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(8)}
    cands = {f"q{i}": {f"d{(i + j) % 30}": 5.0 - j for j in range(5)} for i in range(8)}
    pool = build_pool(queries, qrels, cands, corpus, depth=5)
    tok = train_wordpiece(list(corpus.values()) * 3, WordPieceConfig(vocab_size=200, min_frequency=1))
    model = build_model("monobert", {"hidden": 32, "layers": 2, "heads": 4, "intermediate": 64, "max_len": 64,
                                     "max_query_len": 4, "max_doc_len": 16}, tok, seed=0)
    dense = sum(p.numel() for p in prunable_parameters(model, ("linear",)).values())
    tcfg = from_mapping(TrainConfig, {"negatives": 2, "negative_depth": 5, "batch_queries": 4, "lr": 0.001,
                                      "device": "cpu", "threads": 1, "progress": False, "seed": 0})
    cell = run_cell(model, "structured", 0.5, 0, from_mapping(PruneConfig, {"recovery_steps": 2, "score_batches": 1}),
                    tcfg, pool)
    kept = sum(p.numel() for p in prunable_parameters(model, ("linear",)).values())
    assert 1 - kept / dense == pytest.approx(0.5, abs=0.03)
    assert cell.recovery is not None and "structured: removed" in cell.notes[0]
    assert model.bert.bert.encoder.layer[0].intermediate.dense.out_features < 64


def test_real_deepsparse_scores_like_torch() -> None:
    """The installed DeepSparse (``make engines``: its own environment) runs the exported model and agrees with
    torch; skipped where it is not installed."""
    note = eng.ENGINES.get("deepsparse").missing()
    if note:
        pytest.skip(note)
    bs = batches(2)
    rec = eng.measure_engines(tiny_monobert(), bs, ["torch", "deepsparse"], warmup=1, repeats=2)["deepsparse"]
    assert rec["status"] == "measured", rec["note"]
    assert rec["info"]["version"].startswith("1.")
    assert rec["max_abs_diff"] < 1e-3 and rec["top10_same_order"] == 1.0


@pytest.mark.parametrize("name", ["onnxruntime", "openvino"])
def test_exported_engines_agree_with_torch_on_the_cedr_pacrr_head(name: str) -> None:
    """The default head (PACRR's n-gram convolutions and k-max pooling over every layer's similarities) exports."""
    from types import SimpleNamespace

    if eng.ENGINES.get(name).missing():
        pytest.skip(eng.ENGINES.get(name).missing())
    tok = SimpleNamespace(cls_token_id=98, sep_token_id=99, pad_token_id=0)
    model = tiny_monobert(text=tok, pooling="cedr", cedr_match="pacrr", max_query_len=4)
    with torch.no_grad():
        torch.nn.init.normal_(model.pacrr_head[-1].weight)
    bs = batches(3)
    rec = eng.measure_engines(model, bs, ["torch", name], warmup=1, repeats=1, threads=1)[name]
    assert rec["status"] == "measured", rec["note"]
    assert rec["max_abs_diff"] < 1e-4 and rec["top10_same_order"] == 1.0
    assert max(float(r.std()) for r in scores(model, bs)) > 0.05
