"""End to end: `dvc repro` on a tiny grid in a copy of the project, metrics shown, caching honoured.

The copy and its TINY params come from :mod:`tiny_project`; DVC runs without git (core.no_scm) so the test never
touches the developer's repository.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tiny_project import CHECKPOINT, TINY_GRID, TINY_TASK_GRID, dvc, dvc_env, make_tiny_project

pytestmark = pytest.mark.slow

HAVE_LATEX = shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    dst = make_tiny_project(tmp_path_factory.mktemp("project"))
    dvc(dst, *(("repro",) if HAVE_LATEX else ("repro", "report")))   # without LaTeX: all but the paper
    return dst


def test_repro_builds_dataset_runs_and_metrics(project: Path):
    for split in ("train", "dev", "test"):
        assert (project / "data" / "dataset" / f"queries.{split}.tsv").is_file()
        assert (project / "runs" / "bm25" / f"{split}.trec").is_file()
    assert (project / "logs" / "data.ipynb").is_file() and (project / "logs" / "bm25.ipynb").is_file()
    card = json.loads((project / "data" / "card.json").read_text())
    assert card["source"] == "synthetic"
    shown = json.loads(dvc(project, "metrics", "show", "--json"))
    text = json.dumps(shown)
    assert "mrr@10" in text and "ndcg@10" in text


def test_repro_trains_every_ranker_at_every_seed_and_reports_it_with_bm25(project: Path):
    import torch

    from irprune.models import load_checkpoint

    shown = json.loads(dvc(project, "metrics", "show", "--json"))
    text = json.dumps(shown)
    for model in ("monobert", "conv_knrm", "conformer_kernel"):
        weights = {}
        for seed in TINY_GRID["train_seeds"]:
            name = f"{model}-s{seed}"
            assert f"metrics/{name}.json" in text
            m = json.loads((project / "metrics" / f"{name}.json").read_text())
            assert {"dev", "test", "vs_bm25", "parameters", "train_seconds"} <= set(m)
            assert 0.0 <= m["vs_bm25"]["p_value"] <= 1.0 and m["steps"] == 3
            assert m["training_seed"] == seed and m["rng_seed"] == seed           # train.seed (0) + the seed
            for split in ("dev", "test"):
                assert (project / "runs" / name / f"{split}.trec").is_file()
            cell = json.loads((project / "metrics" / "cells" / "ranking" / name / "dense.test.json").read_text())
            assert cell["model"] == model and cell["method"] == "dense" and cell["seed"] == seed
            assert (project / "logs" / f"train@{model}-{seed}.ipynb").is_file()
            net = load_checkpoint(project / "models" / name, expect=model)
            assert net.n_parameters() == m["parameters"]
            assert isinstance(next(net.parameters()), torch.Tensor)
            weights[seed] = [p.detach().clone() for p in net.parameters() if p.requires_grad]
        a, b = (weights[s] for s in TINY_GRID["train_seeds"][:2])   # another seed, another model
        assert any(not torch.equal(x, y) for x, y in zip(a, b)), model
    assert not (project / ".cache" / "train-state" / "conv_knrm-s0").exists()     # cleared after success
    info = json.loads((project / "models" / "pretrain" / "pretrain.json").read_text())
    if yaml.safe_load((project / "params.yaml").read_text())["models"]["monobert"]["pretrained"]:
        assert info["bert"] == "skipped" and "pretrained" in info["reason"]     # the checkpoint is the start
    else:
        assert info["bert"] == "mlm" and info["mlm_steps"] == 2


def test_second_repro_is_a_no_op(project: Path):
    out = dvc(project, "repro")
    assert "Running stage" not in out, out


def test_changing_a_bm25_param_reruns_only_bm25(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["bm25"]["k1"] = 1.2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(project, "repro")
    assert "Running stage 'bm25'" in out and "Running stage 'data'" not in out, out


def test_changing_one_model_param_retrains_only_that_model(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["conv_knrm"]["n_filters"] = 5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(project, "repro")
    for seed in TINY_GRID["train_seeds"]:
        assert f"Running stage 'train@conv_knrm-{seed}'" in out, out
    assert "Running stage 'train@monobert-" not in out, out
    assert "Running stage 'pretrain'" not in out and "Running stage 'bm25'" not in out, out


def test_adding_one_sparsity_runs_only_the_new_cells_and_the_report(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["grid"]["curve"]["sparsities"] = [0.5, 0.6, 0.9]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(project, *(("repro",) if HAVE_LATEX else ("repro", "report")))
    assert out.count("Running stage 'prune") == 1 and "Running stage 'prune@conv_knrm-gmp-0.6-0'" in out, out
    assert "Running stage 'train@" not in out and "Running stage 'collect'" in out and "Running stage 'report'" in out


def test_adding_one_seed_trains_and_prunes_only_the_new_seed(project: Path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["grid"]["train_seeds"] = [0, 1, 2]
    params["grid"]["repeats"]["seeds"] = [1, 2]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = dvc(project, *(("repro",) if HAVE_LATEX else ("repro", "report")))
    assert out.count("Running stage 'train@") == 3, out
    for model in ("monobert", "conv_knrm", "conformer_kernel"):
        assert f"Running stage 'train@{model}-2'" in out, out
    assert out.count("Running stage 'prune") == 2, out
    for sp in TINY_GRID["repeats"]["sparsities"]:
        assert f"Running stage 'prune_repeats@conv_knrm-gmp-{sp}-2'" in out, out
    assert "Running stage 'collect'" in out and "Running stage 'report'" in out


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
    env_out = dvc(project, "repro", "pretrain")
    assert "Running stage 'pretrain'" in env_out
    info = json.loads((project / "models" / "pretrain" / "pretrain.json").read_text())
    assert info["bert"] == "skipped" and "pretrained" in info["reason"]
    params["models"]["monobert"]["pretrained"] = "models/conv_knrm-s0"    # a ranker checkpoint, not a BERT
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", "train@monobert-0"], cwd=project, env=dvc_env(),
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "not a checkpoint directory (no config.json)" in proc.stdout + proc.stderr


def _tiny_cells() -> list[tuple[str, str, float, int]]:
    return [(m, me, sp, se) for block in ("curve", "controls", "repeats") for b in [TINY_GRID[block]]
            for m in b["models"] for me in b["methods"] for sp in b["sparsities"] for se in b["seeds"]]


def test_the_grid_cells_prune_their_seeds_dense_model_and_are_collected_and_reported(project: Path):
    import pandas as pd

    cells = _tiny_cells()
    assert {c[3] for c in cells} == {0, 1} and {c[2] for c in cells} == {0.5, 0.9}
    for model, method, sp, seed in cells:
        cell = project / "runs" / "prune" / f"{model}-{method}-{sp}-{seed}"
        summary = json.loads((cell / "mask_summary.json").read_text())
        # the target within one weight of the prunable tensors (global scope)
        assert abs(summary["achieved_sparsity"] - sp) * summary["dense_prunable_params"] <= 1
        assert summary["seed"] == seed
        assert (cell / "test.trec").is_file() and (cell / "pruning_log.json").is_file()
        assert (project / "logs" / f"prune@{model}-{method}-{sp}-{seed}.ipynb").is_file()
    # a cell at seed s starts from the dense model of seed s: the dense models differ, so do the pruned runs
    runs = {s: (project / "runs" / "prune" / f"conv_knrm-gmp-0.9-{s}" / "test.trec").read_text() for s in (0, 1)}
    assert runs[0] != runs[1]
    table = pd.read_csv(project / "results" / "results.csv")
    test = table[(table["split"] == "test") & (table["model"] == "conv_knrm")]
    pruned = test[test["method"].isin(["gmp", "magnitude"])]
    assert {(r.method, r.target_sparsity, r.seed) for r in pruned.itertuples()} >= {c[1:] for c in cells}
    dense = test[test["method"] == "dense"]
    assert set(dense["seed"]) >= set(TINY_GRID["train_seeds"])          # (a later seed may have been added)
    assert {"bm25", "dense"} <= set(table["method"])
    macros = (project / "report" / "generated" / "macros.tex").read_text()
    # question 1's answer: GMP's seed mean and spread at 0.9 over the two seeds, and the paired test against dense
    for name in ("ConvKnrmGmpQOneNinetyMean", "ConvKnrmGmpQOneNinetySd", "ConvKnrmGmpQOneNinetySeeds",
                 "ConvKnrmGmpQOneNinetyP", "ConvKnrmGmpKeepNinetyFiveSparsity"):
        assert f"\\newcommand{{\\{name}}}" in macros, name
    n = len(test[(test["method"] == "gmp") & (test["target_sparsity"] == 0.9)])
    assert n >= 2 and f"\\newcommand{{\\ConvKnrmGmpQOneNinetySeeds}}{{{n}}}" in macros
    assert any((project / "figures").glob("*.png"))
    # what the sparsity covers: counted on the pruned model, frozen embeddings in the total only
    for _, r in pruned.iterrows():
        assert abs(r["sparsity_prunable"] - r["achieved_sparsity"]) < 1e-9 and r["frozen_params"] > 0
        assert r["prunable_params"] + r["frozen_params"] <= r["total_params"]
        assert r["sparsity_all"] == pytest.approx(1 - r["nonzero_params"] / r["total_params"])
        assert r["latency_ms_torch"] > 0 and isinstance(r["latency_cpu"], str) and r["latency_threads"] >= 1
    dense = table[(table["model"] == "conv_knrm") & (table["method"] == "dense")]
    assert dense["sparsity_all"].notna().all() and dense["prunable_params"].isna().all()
    gen = project / "report" / "generated"
    assert (gen / "prunable.tex").is_file() and (gen / "engine_speedup.tex").is_file()
    assert (project / "figures" / "engine_latency.pdf").is_file()


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

