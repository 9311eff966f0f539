"""A tiny copy of the project for tests that run DVC stages (tests/test_pipeline_e2e.py, tests/test_kill_resume.py).

The copy holds the project's files (as git would see them) and params.yaml shrunk to the TINY settings below; DVC
runs without git (core.no_scm) so a test never touches the developer's repository.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from conftest import ROOT

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
# The grid's wiring on Conv-KNRM: two training seeds for every ranker; GMP at two sparsities at both seeds (the curve
# at seed 0, the repeats at seed 1) and one one-shot control.
TINY_GRID = {"train_seeds": [0, 1],
             "curve": {"models": ["conv_knrm"], "methods": ["gmp"], "sparsities": [0.5, 0.9], "seeds": [0]},
             "controls": {"models": ["conv_knrm"], "methods": ["magnitude"], "sparsities": [0.5], "seeds": [0]},
             "repeats": {"models": ["conv_knrm"], "methods": ["gmp"], "sparsities": [0.5, 0.9], "seeds": [1]}}
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
              "pruning": {"gmp": {"updates": 2}}}
TINY_TASK_GRID = {"pairs": ["classification-embedding_bag", "translation-seq2seq", "vision-lenet"],
                  "methods": ["gmp"], "sparsities": [0.5], "seeds": [0]}
# DSI on 60 documents, a one-layer T5 of width 16, a few steps, and one GMP cell (the wiring, not effectiveness).
TINY_DSI = {"n_docs": 60, "model": {"d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_decoder_layers": 1,
                                    "num_heads": 2},
            "ids": {"k": 4, "c": 10},
            "train": {"steps": 6, "batch_size": 8, "eval_every": 3, "eval_queries": 5, "warmup_steps": 1},
            "retrieve": {"beam_size": 10}, "prune": {"recovery_steps": 4, "gmp": {"updates": 2}}}
TINY_DSI_GRID = {"methods": ["gmp"], "sparsities": [0.5], "seeds": [0]}
# The bi-encoder stages: a couple of steps of each training loop, one PQ size, one pruned cell.
TINY_DENSE = {"depth": 50, "batch_size": 32,
              "train": {"steps": 2, "batch_size": 8, "negatives": 2, "warmup_steps": 1, "eval_every": 1},
              "pq": {"m": [48]},
              "jpq": {"steps": 2, "batch_size": 8, "negatives": 20, "sampled": 4, "warmup_steps": 1, "eval_every": 1},
              "latency": {"n_queries": 2, "repeats": 1},
              "prune": {"recovery_steps": 2, "gmp": {"updates": 1}}}
TINY_DENSE_GRID = {"methods": ["magnitude"], "sparsities": [0.5], "seeds": [0]}
# The default monoBERT starts from all-MiniLM-L6-v2 (fetched by `make setup`); the tiny run keeps one of its layers.
# Without the fetched files the run falls back to the from-scratch path on pseudo-words (still every stage).
CHECKPOINT = ROOT / ".cache" / "models" / "minilm-l6"


def deep_update(base: dict, over: dict) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value


def project_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return [f for f in out if f and (ROOT / f).is_file()]


def copy_project(dst: Path, skip: tuple[str, ...] = ()) -> Path:
    """The project's files (as git sees them, minus paths starting with ``skip``) copied into ``dst``, with the
    fetched checkpoint the data stage reads linked in; skips the calling test when it was never fetched."""
    import pytest

    for f in project_files():
        if not (skip and f.startswith(skip)):
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    if not (CHECKPOINT / "model.safetensors").is_file():
        pytest.skip(f"the all-MiniLM-L6-v2 checkpoint is not in {CHECKPOINT} (run `make setup` to fetch it)")
    (dst / ".cache" / "models").mkdir(parents=True, exist_ok=True)
    (dst / ".cache" / "models" / "minilm-l6").symlink_to(CHECKPOINT)
    return dst


def dvc_env() -> dict[str, str]:
    """The environment DVC runs in: this interpreter's folder first on PATH, no analytics."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))  # reuse the warmed ranx cache
    return env


def dvc(cwd: Path, *args: str) -> str:
    """Run ``dvc ARGS`` in ``cwd``; asserts it succeeds and returns its output."""
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=dvc_env(), capture_output=True,
                          text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def make_tiny_project(dst: Path, over: dict[str, Any] | None = None) -> Path:
    """Copy the project into ``dst`` with the TINY params (then ``over`` merged in) and DVC set up without git."""
    for f in project_files():
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
    for name, model_over in TINY_MODELS.items():
        if not (name == "monobert" and params["models"][name]["pretrained"]):   # a checkpoint fixes its shape
            params["models"][name].update(model_over)
        if params["models"][name].get("train"):          # per-model training overrides stay tiny too
            params["models"][name]["train"].update({k: TINY_TRAIN[k] for k in ("max_steps", "epochs", "eval_every",
                                                                               "eval_queries")})
    params["grid"] = copy.deepcopy(TINY_GRID)
    params["prune"].update(TINY_PRUNE)
    params["costs"].update(TINY_COSTS)
    deep_update(params["tasks"], TINY_TASKS)
    params["task_grid"] = TINY_TASK_GRID
    deep_update(params["dsi"], TINY_DSI)
    params["dsi_grid"] = TINY_DSI_GRID
    deep_update(params["dense"], TINY_DENSE)
    params["dense_grid"] = TINY_DENSE_GRID
    deep_update(params, over or {})
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(dst, "config", "core.no_scm", "true")
    return dst
