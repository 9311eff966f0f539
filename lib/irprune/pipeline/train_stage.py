"""Train stage (``train@<model>-<seed>``): train one ranker at one training seed on BM25 hard negatives, re-rank dev
and test, evaluate, and test its per-query effectiveness against BM25.

Inputs: the dataset store, the BM25 runs, and for monoBERT the pretrain stage's tokenizer / MLM checkpoint (or
``models.monobert.pretrained``); for the kernel models the pretrain stage's word vectors when
``embeddings_path`` names them.  Training seed ``s`` (an item of ``grid.train_seeds``) trains at ``train.seed + s``,
so seed 0 is the single-seed study's run.  Outputs, with ``<name>`` = ``<model>-s<s>`` (:func:`irprune.paths.trained`):
``models/<name>/`` (checkpoint), ``runs/<name>/{dev,test}.trec``, ``runs/<name>/per_query.json``,
``runs/<name>/history.json``, ``metrics/<name>.json`` and the dense cells ``metrics/cells/ranking/<name>/``.  A killed
run resumes from ``.cache/train-state/<name>/`` when re-run with the same params and data (else it restarts).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .. import paths
from ..config import ConfigError, to_mapping
from ..data.store import read_dataset
from ..errors import DataFormatError
from ..evaluation import eval_config_for, evaluate
from ..io import atomic_write_json, read_json
from ..models import build_model, save_checkpoint
from ..models.base import Ranker
from ..rerank import rerank
from ..runs import read_trec_run, write_trec_run
from ..costs.summary import measure_costs
from ..pruning.sparsity import sparsity_columns
from ..cells.schema import RANKING_METRICS, cost_columns, make_cell, write_cell
from ..significance import compare
from ..text import Vocab, load_tokenizer
from ..training import DevEvaluator, Trainer, TrainResult, build_pool
from ..training.init import apply_init
from ..training.spec import ModelSpec


@dataclass
class TrainStageResult:
    model: str
    metrics: dict[str, Any]
    history: TrainResult

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame({s: self.metrics[s] for s in ("dev", "test") if s in self.metrics}).T

    def plot(self) -> Any:
        """Training loss per step and the dev metric per evaluation."""
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
        a.plot(range(1, len(self.history.losses) + 1), self.history.losses, lw=0.8)
        a.set(xlabel="optimizer step", ylabel="training loss", title=f"{self.model}: loss")
        ev = self.history.evaluations
        metric = self.metrics["selection_metric"]
        if ev:
            b.plot([e["step"] for e in ev], [e["dev"][metric] for e in ev], marker="o")
            b.axvline(self.history.selected_step, ls="--", c="gray", label="selected")
            b.legend()
        b.set(xlabel="optimizer step", ylabel=f"dev {metric}", title=f"{self.model}: dev (early stopping subset)")
        fig.tight_layout()
        return fig


def build_text(spec: ModelSpec, corpus: dict[str, str], pretrain_dir: Path = paths.PRETRAIN_DIR) -> tuple[Any, Any]:
    """The model config and text state to build ``spec`` with: a word vocabulary for the kernel models; for
    monoBERT the pretrain stage's MLM checkpoint (or its tokenizer, or ``pretrained``)."""
    cfg = spec.config
    if spec.name != "monobert":
        path = getattr(cfg, "embeddings_path", None)
        if path and not Path(path).is_file():
            raise ConfigError(f"params.yaml: models.{spec.name}.embeddings_path = {path!r} does not exist; fix: run "
                              f"the pretrain stage (it writes {paths.PRETRAIN_WORD_VECTORS}) or set it to null")
        return cfg, Vocab.build(corpus[d] for d in sorted(corpus))
    if cfg.pretrained is not None:
        return cfg, None                                   # tokenizer and weights come from the checkpoint
    mlm = pretrain_dir / paths.PRETRAIN_MLM.name
    if (mlm / "config.json").is_file():
        return replace(cfg, pretrained=str(mlm)), None
    tok = pretrain_dir / paths.PRETRAIN_TOKENIZER.name
    if not tok.is_dir():
        raise DataFormatError("monoBERT needs the pretrain stage's tokenizer (or models.monobert.pretrained)",
                              path=tok, fix="run `dvc repro pretrain` first")
    return cfg, load_tokenizer(tok)


def _known_dev_run(evaluator: DevEvaluator | None, model: Ranker, queries: dict[str, str]) -> Any:
    """The dev run that selection already re-ranked with the restored weights (the evaluator holds BM25's dev
    candidates at the same depth), when it covers every dev query (on real collections every dev query is judged
    and evaluated); else None."""
    if evaluator is None or set(evaluator.queries) != set(queries):
        return None
    return evaluator.run_of(model)


def _fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            h.update(p.read_bytes() if p.is_file() else str(p).encode())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def run(cfg: Any, seed: int = 0, dataset_dir: Path = paths.DATASET,
        pretrain_dir: Path = paths.PRETRAIN_DIR) -> TrainStageResult:
    """Train ``cfg.model`` (a :class:`ModelSpec`) with ``cfg.train`` at training seed ``seed`` (RNG seed
    ``train.seed + seed``) and write the stage's outputs under :func:`irprune.paths.trained`'s name."""
    spec: ModelSpec = cfg.model
    name = spec.name
    out = paths.trained(name, seed)
    tcfg = spec.train_config(cfg.train)
    tcfg = replace(tcfg, seed=tcfg.seed + seed)
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    t_start = time.perf_counter()
    ds = read_dataset(dataset_dir)
    for split in ("train", "dev", "test"):
        if split not in ds.splits:
            raise DataFormatError(f"the dataset has no {split!r} split (it has {', '.join(ds.splits)})",
                                  path=dataset_dir, fix="re-run the data stage with train/dev/test queries")
    bm25 = {s: read_trec_run(paths.candidates_run(s)) for s in ("train", "dev", "test")}   # train: BM25 alone
    model_cfg, text = build_text(spec, ds.corpus, pretrain_dir)
    model: Ranker = apply_init(spec.init, build_model(name, model_cfg, text, seed=tcfg.seed))
    n_params = model.n_parameters()

    train = ds.splits["train"]
    pool = build_pool(train.queries, train.qrels, bm25["train"], ds.corpus_for("train"),
                      depth=tcfg.negative_depth)
    if pool.skipped.total:
        print(f"note: {pool.skipped.total} training queries unusable, by reason: {dict(pool.skipped.counts)}")
    dev = ds.splits["dev"]
    dev_cfg = eval_config_for(dev.qrels, cfg.evaluation)
    evaluator = None
    if any(dev.qrels.values()):
        evaluator = DevEvaluator(dev.queries, dev.qrels, ds.corpus, bm25["dev"], dev_cfg, tcfg.metric,
                                 depth=tcfg.eval_depth, n_queries=tcfg.eval_queries, batch_size=tcfg.batch_size_eval)
    elif tcfg.selection == "best":
        raise DataFormatError("the dev split has no judgements, so early stopping cannot select a checkpoint",
                              path=dataset_dir, fix="set data.splits.dev_from_test (e.g. 0.2) or train.selection: last")
    fingerprint = _fingerprint(name, to_mapping(tcfg), to_mapping(model_cfg), dataset_dir / "meta.json",
                               paths.bm25_run("train"), paths.candidates_run("dev"), n_params)
    trainer = Trainer(model, tcfg, pool, evaluator=evaluator, state_dir=paths.train_state(out), label=f"train {out}",
                      fingerprint=fingerprint)
    history = trainer.fit()
    print(f"{out}: {history.steps} steps in {history.seconds:.0f}s, selected step {history.selected_step}"
          + (" (early stop)" if history.stopped_early else "") + (f"; {history.notes[0]}" if history.notes else ""))

    t_eval = time.perf_counter()
    metrics: dict[str, Any] = {}
    per_query: dict[str, Any] = {}
    for split in ("dev", "test"):
        s = ds.splits[split]
        run_ = _known_dev_run(evaluator, model, s.queries) if split == "dev" else None
        if run_ is not None:
            print(f"{out}: dev re-ranked once, by the selected evaluation ({len(run_)} queries)")
        else:
            run_ = rerank(model, s.queries, ds.corpus, bm25[split], depth=tcfg.eval_depth, keep_rest=True,
                          batch_size=tcfg.batch_size_eval,
                          progress=f"rerank {split}" if tcfg.progress else False)
        write_trec_run(run_, paths.model_run(out, split), tag=name)
        if any(s.qrels.values()):
            ecfg = eval_config_for(s.qrels, cfg.evaluation)
            res = evaluate(s.qrels, run_, ecfg)
            metrics[split] = {**res.metrics(), "relevance_level": ecfg.relevance_level}
            per_query[split] = res.per_query
    rerank_s = time.perf_counter() - t_eval
    if "test" in per_query:
        bm25_pq = read_json(paths.BM25_PER_QUERY).get("test", {})
        metric = tcfg.metric
        if metric not in bm25_pq or metric not in per_query["test"]:
            raise ConfigError(f"the significance test compares test {metric} with BM25, but the BM25 stage did not "
                              f"record it; fix: list {metric} in evaluation.metrics")
        c = compare(per_query["test"][metric], bm25_pq[metric], cfg=cfg.significance)
        metrics["vs_bm25"] = {"metric": metric, "test": c.test, "n": c.n, "mean_diff": c.mean_diff,
                              "p_value": c.p_value, "significant": c.p_value <= cfg.significance.alpha,
                              "beats_bm25": c.p_value <= cfg.significance.alpha and c.mean_diff > 0}
    start = getattr(model_cfg, "pretrained", None)
    if start is not None and name == "monobert":
        metrics["start"] = {"checkpoint": spec.config.pretrained or "MLM from scratch (pretrain stage)",
                            "layers": int(model.bert.config.num_hidden_layers),
                            "hidden": int(model.bert.config.hidden_size), "head": spec.config.pooling,
                            "match": spec.config.cedr_match,
                            "biencoder_prior": bool(spec.config.biencoder_prior)}
    metrics.update(training_seed=seed, rng_seed=tcfg.seed, parameters=n_params, preset=spec.preset, selection_metric=tcfg.metric,
                   train_seconds=round(history.seconds, 2), rerank_seconds=round(rerank_s, 2),
                   stage_seconds=round(time.perf_counter() - t_start, 2), steps=history.steps,
                   selected_step=history.selected_step, stopped_early=history.stopped_early)
    costs = measure_costs(model, cfg.costs) if cfg.costs is not None else {}
    metrics["costs"] = costs
    for split in per_query:        # the dense baseline's rows of the tidy results table
        write_cell(paths.cell_file("ranking", out, "dense", split), make_cell(
            task="ranking", model=name, method="dense", target_sparsity=0.0, achieved_sparsity=0.0,
            seed=seed, split=split, primary_metric=tcfg.metric, wall_time_s=metrics["stage_seconds"],
            **{k.replace("@", "_at_"): v for k, v in metrics[split].items() if k in RANKING_METRICS},
            per_query_path=str(paths.model_per_query(out)),
            # the prunable set is the prune stage's choice (prune.include), which this stage does not read
            **{**cost_columns(costs), **sparsity_columns(model, None)}))
    save_checkpoint(model, paths.model_dir(out))
    atomic_write_json(paths.model_per_query(out), per_query)
    atomic_write_json(paths.model_history(out), history.as_dict())
    atomic_write_json(paths.model_metrics(out), metrics)
    trainer.clear_state()
    return TrainStageResult(model=name, metrics=metrics, history=history)


__all__ = ["TrainStageResult", "build_text", "run"]
