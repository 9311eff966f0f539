"""End to end: `dvc repro` on a tiny grid in a copy of the project, metrics shown, caching honoured.

The copy holds the project's files (as git would see them) and the environment's Python; DVC runs without git
(core.no_scm) so the test never touches the developer's repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow

TINY = {"n_docs": 400, "n_train_queries": 60, "n_dev_queries": 25, "n_test_queries": 30}
# Tiny models and a few optimizer steps: the e2e test checks the wiring, not effectiveness.
TINY_PRETRAIN = {"wordpiece": {"vocab_size": 600}, "mlm": {"max_steps": 2, "batch_size": 8, "max_len": 64},
                 "word_vectors": {"dim": 8}}
TINY_TRAIN = {"max_steps": 3, "epochs": 1, "eval_every": 2, "eval_queries": 10, "eval_depth": 10,
              "checkpoint_every": 2, "progress": False}
TINY_MODELS = {"monobert": {"hidden": 16, "layers": 1, "heads": 2, "intermediate": 32, "max_len": 64,
                            "max_query_len": 8, "max_doc_len": 48},
               "conv_knrm": {"embedding_dim": 8, "n_filters": 4},
               "conformer_kernel": {"hidden": 8, "n_heads": 2, "ffn_dim": 8, "n_layers": 1}}
# One pruning cell per model kind that matters for wiring: a one-shot method and GMP on Conv-KNRM.
TINY_GRID = {"models": ["conv_knrm"], "methods": ["magnitude", "gmp"], "sparsities": [0.5], "seeds": [0]}
TINY_PRUNE = {"recovery_steps": 10, "score_batches": 1, "gmp": {"start_frac": 0.0, "end_frac": 0.5, "updates": 2}}
TINY_COSTS = {"latency": {"k": 10, "n_queries": 1, "warmup": 0, "repeats": 1}}
# The cross-task stages on a few hundred examples, one epoch, both tasks, GMP (fine-tunes the dense weights).
TINY_TASKS = {"classification": {"models": ["embedding_bag"], "synthetic": {"n_train": 300, "n_test": 100},
                                 "train": {"epochs": 1, "finetune_epochs": 1}},
              "translation": {"synthetic": {"n_train": 200, "n_test": 20},
                              "seq2seq": {"d_model": 16, "nhead": 2, "num_encoder_layers": 1,
                                          "num_decoder_layers": 1, "dim_feedforward": 32},
                              "train": {"epochs": 1, "finetune_epochs": 1}},
              "vision": {"max_train": 200, "max_test": 100, "train": {"epochs": 1, "finetune_epochs": 1}},
              "pruning": {"gmp_updates": 2}}
TINY_TASK_GRID = {"pairs": ["classification-embedding_bag", "translation-seq2seq", "vision-lenet"],
                  "methods": ["gmp"], "sparsities": [0.5], "seeds": [0]}
# DSI on 60 documents, a one-layer T5 of width 16, a few steps, and one GMP cell (the wiring, not effectiveness).
TINY_DSI = {"n_docs": 60, "model": {"d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_decoder_layers": 1,
                                    "num_heads": 2},
            "ids": {"k": 4, "c": 10},
            "train": {"steps": 6, "batch_size": 8, "eval_every": 3, "eval_queries": 5, "warmup_steps": 1},
            "retrieve": {"beam_size": 10}, "prune": {"recovery_steps": 4, "gmp_updates": 2}}
TINY_DSI_GRID = {"methods": ["gmp"], "sparsities": [0.5], "seeds": [0]}
HAVE_LATEX = shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None
# The default monoBERT starts from all-MiniLM-L6-v2 (fetched by `make setup`); the tiny run keeps one of its layers.
# Without the fetched files the run falls back to the from-scratch path on pseudo-words (still every stage).
CHECKPOINT = ROOT / ".cache" / "models" / "minilm-l6"


def _deep_update(base: dict, over: dict) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value


def _project_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return [f for f in out if f and (ROOT / f).is_file()]


def _dvc(cwd: Path, *args: str) -> str:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))  # reuse the warmed ranx cache
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("project")
    for f in _project_files():
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dst / f)
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["data"]["synthetic"].update(TINY)
    if (CHECKPOINT / "model.safetensors").is_file():
        (dst / ".cache" / "models").mkdir(parents=True)
        (dst / ".cache" / "models" / "minilm-l6").symlink_to(CHECKPOINT)
        params["models"]["monobert"].update(keep_layers=1, max_doc_len=48)
    else:
        params["data"]["synthetic"]["surface"] = "pseudo"
        params["models"]["monobert"]["pretrained"] = None
    params["bm25"]["depth"] = 50
    for key, value in TINY_PRETRAIN.items():
        params["pretrain"][key].update(value)
    params["train"].update(TINY_TRAIN)
    for name, over in TINY_MODELS.items():
        if not (name == "monobert" and params["models"][name]["pretrained"]):   # a checkpoint fixes its shape
            params["models"][name].update(over)
        if params["models"][name].get("train"):          # per-model training overrides stay tiny too
            params["models"][name]["train"].update({k: TINY_TRAIN[k] for k in ("max_steps", "epochs", "eval_every",
                                                                               "eval_queries")})
    params["grid"] = TINY_GRID
    params["prune"].update(TINY_PRUNE)
    params["costs"].update(TINY_COSTS)
    _deep_update(params["tasks"], TINY_TASKS)
    params["task_grid"] = TINY_TASK_GRID
    _deep_update(params["dsi"], TINY_DSI)
    params["dsi_grid"] = TINY_DSI_GRID
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _dvc(dst, "config", "core.no_scm", "true")
    _dvc(dst, *(("repro",) if HAVE_LATEX else ("repro", "report")))   # without LaTeX: all but the paper
    return dst


def test_repro_builds_dataset_runs_and_metrics(project: Path):
    for split in ("train", "dev", "test"):
        assert (project / "data" / "dataset" / f"queries.{split}.tsv").is_file()
        assert (project / "runs" / "bm25" / f"{split}.trec").is_file()
    assert (project / "logs" / "data.ipynb").is_file() and (project / "logs" / "bm25.ipynb").is_file()
    card = json.loads((project / "data" / "card.json").read_text())
    assert card["source"] == "synthetic"
    shown = json.loads(_dvc(project, "metrics", "show", "--json"))
    text = json.dumps(shown)
    assert "mrr@10" in text and "ndcg@10" in text


def test_repro_trains_every_ranker_and_reports_it_with_bm25(project: Path):
    import torch

    from irprune.models import load_checkpoint

    shown = json.loads(_dvc(project, "metrics", "show", "--json"))
    text = json.dumps(shown)
    for name in ("monobert", "conv_knrm", "conformer_kernel"):
        assert f"metrics/{name}.json" in text
        m = json.loads((project / "metrics" / f"{name}.json").read_text())
        assert {"dev", "test", "vs_bm25", "parameters", "train_seconds"} <= set(m)
        assert 0.0 <= m["vs_bm25"]["p_value"] <= 1.0 and m["steps"] == 3
        for split in ("dev", "test"):
            assert (project / "runs" / name / f"{split}.trec").is_file()
        assert (project / "logs" / f"train@{name}.ipynb").is_file()
        model = load_checkpoint(project / "models" / name, expect=name)
        assert model.n_parameters() == m["parameters"]
        assert isinstance(next(model.parameters()), torch.Tensor)
    assert not (project / ".cache" / "train-state" / "conv_knrm").exists()     # cleared after success
    info = json.loads((project / "models" / "pretrain" / "pretrain.json").read_text())
    assert info["bert"] == "mlm" and info["mlm_steps"] == 2


def test_second_repro_is_a_no_op(project: Path):
    out = _dvc(project, "repro")
    assert "Running stage" not in out, out


def test_changing_a_bm25_param_reruns_only_bm25(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["bm25"]["k1"] = 1.2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _dvc(project, "repro")
    assert "Running stage 'bm25'" in out and "Running stage 'data'" not in out, out


def test_changing_one_model_param_retrains_only_that_model(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["conv_knrm"]["n_filters"] = 5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _dvc(project, "repro")
    assert "Running stage 'train@conv_knrm'" in out, out
    assert "Running stage 'train@monobert'" not in out, out
    assert "Running stage 'pretrain'" not in out and "Running stage 'bm25'" not in out, out


def test_adding_one_sparsity_runs_only_the_new_cells_and_the_report(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["grid"]["sparsities"] = [0.5, 0.6]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _dvc(project, *(("repro",) if HAVE_LATEX else ("repro", "report")))
    for method in TINY_GRID["methods"]:
        assert f"Running stage 'prune@conv_knrm-{method}-0.6-0'" in out, out
        assert f"Running stage 'prune@conv_knrm-{method}-0.5-0'" not in out, out
    assert "Running stage 'train@" not in out and "Running stage 'collect'" in out and "Running stage 'report'" in out


def test_a_pretrained_checkpoint_skips_mlm_and_a_bad_one_stops_the_stage(project: Path):
    mlm = project / "models" / "pretrain" / "mlm"
    if mlm.is_dir():                                      # the from-scratch path pretrained one
        shutil.copytree(mlm, project / "ckpt" / "bert")
    else:                                                 # a tiny BERT around the checkpoint's tokenizer
        from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

        tok = AutoTokenizer.from_pretrained(str(CHECKPOINT))
        BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32, max_position_embeddings=128)).save_pretrained(
            str(project / "ckpt" / "bert"))
        tok.save_pretrained(str(project / "ckpt" / "bert"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["monobert"]["pretrained"] = "ckpt/bert"                # a BERT checkpoint of our own
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env_out = _dvc(project, "repro", "pretrain")
    assert "Running stage 'pretrain'" in env_out
    info = json.loads((project / "models" / "pretrain" / "pretrain.json").read_text())
    assert info["bert"] == "skipped" and "pretrained" in info["reason"]
    params["models"]["monobert"]["pretrained"] = "models/conv_knrm"       # a ranker checkpoint, not a BERT
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", "train@monobert"], cwd=project, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "not a checkpoint directory (no config.json)" in proc.stdout + proc.stderr


def test_the_grid_cells_are_collected_and_reported(project: Path):
    import pandas as pd

    for method in TINY_GRID["methods"]:
        cell = project / "runs" / "prune" / f"conv_knrm-{method}-0.5-0"
        summary = json.loads((cell / "mask_summary.json").read_text())
        # the target within one weight of the prunable tensors (global scope)
        assert abs(summary["achieved_sparsity"] - 0.5) * summary["dense_prunable_params"] <= 1
        assert (cell / "test.trec").is_file() and (cell / "pruning_log.json").is_file()
        assert (project / "logs" / f"prune@conv_knrm-{method}-0.5-0.ipynb").is_file()
    table = pd.read_csv(project / "results" / "results.csv")
    pruned = table[(table["model"] == "conv_knrm") & (table["method"].isin(TINY_GRID["methods"]))
                   & (table["target_sparsity"] == 0.5)]         # (an earlier test adds 0.6 cells)
    assert len(pruned[pruned["split"] == "test"]) == len(TINY_GRID["methods"])
    assert {"bm25", "dense"} <= set(table["method"])
    assert (project / "report" / "generated" / "macros.tex").is_file()
    assert any((project / "figures").glob("*.png"))


def test_the_task_stages_run_and_reach_the_table_figure_and_macros(project: Path):
    import pandas as pd

    from irprune.pipeline import task_stage

    for pair in TINY_TASK_GRID["pairs"]:
        task, model = task_stage.split_pair(pair)
        assert task_stage.dense_weights_path(task, model, 0).is_relative_to(Path("models/tasks"))
        assert (project / task_stage.dense_weights_path(task, model, 0)).is_file()
        for method, sp in (("dense", 0.0), ("gmp", 0.5)):
            cell = json.loads((project / task_stage.cell_path(task, model, method, sp, 0)).read_text())
            record = json.loads((project / task_stage.record_path(task, model, method, sp, 0)).read_text())
            assert cell["task"] == task and cell["method"] == method and record["epochs"] == 1
        assert (project / "logs" / f"task_dense@{pair}-0.ipynb").is_file()
        assert (project / "logs" / f"task@{pair}-gmp-0.5-0.ipynb").is_file()
    table = pd.read_csv(project / "results" / "results.csv")
    tasks = table[table["task"].isin(["classification", "translation"])]
    assert len(tasks) == 4 and tasks["compression"].notna().all() and tasks["flop_sparsity"].notna().all()
    gmp = tasks[tasks["method"] == "gmp"]
    assert ((gmp["achieved_sparsity"] - 0.5).abs() < 0.01).all() and (gmp["flop_sparsity"] > 0.2).all()
    assert (project / "figures" / "cross_task.png").is_file()
    assert "Translation" in (project / "report" / "generated" / "cross_task.md").read_text()
    assert r"\HaveTaskstrue" in (project / "report" / "generated" / "macros.tex").read_text()


def test_the_dsi_stages_run_and_reach_the_table_figure_and_macros(project: Path):
    import pandas as pd

    from irprune.dsi.model import load_dsi
    from irprune.pipeline import dsi_prune_stage

    metrics = json.loads((project / "metrics" / "dsi.json").read_text())
    assert metrics["n_docs"] == 60 and metrics["train_steps"] == 6 and "bm25_subset_map" in metrics
    assert len(load_dsi(project / "models" / "dsi").docids) == 60
    assert (project / "runs" / "dsi" / "test.trec").is_file() and (project / "logs" / "dsi.ipynb").is_file()
    cell = project / dsi_prune_stage.cell_dir("gmp", 0.5, 0)
    summary = json.loads((cell / "mask_summary.json").read_text())
    assert abs(summary["achieved_sparsity"] - 0.5) < 0.01
    assert {"encoder_sparsity", "decoder_sparsity", "pqi"} <= set(summary)
    assert (cell / "pruning_log.json").is_file() and (project / "logs" / "dsi_prune@gmp-0.5-0.ipynb").is_file()
    table = pd.read_csv(project / "results" / "results.csv")
    dsi = table[table["task"] == "dsi"]
    assert set(zip(dsi["model"], dsi["method"])) == {("dsi", "dense"), ("bm25", "bm25"), ("dsi", "gmp")}
    assert (project / "figures" / "dsi_sparsity.png").is_file()
    macros = (project / "report" / "generated" / "macros.tex").read_text()
    assert r"\HaveDsitrue" in macros and r"\HaveDsiPrunedtrue" in macros
    assert "DSI (dense)" in (project / "report" / "generated" / "dsi.md").read_text()


@pytest.mark.skipif(not HAVE_LATEX, reason="latexmk/pdflatex not installed (make latex installs them)")
def test_the_paper_is_built_with_its_sections(project: Path):
    pdf = project / "report" / "paper.pdf"
    assert pdf.is_file()
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        for section in ("Introduction", "Setup", "Results", "Other tasks under the same pruning",
                        "Generative retrieval: DSI"):
            assert section in text, section
        assert "Text classification" in text and "has not been run" not in text

