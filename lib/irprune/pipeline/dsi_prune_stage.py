"""DSI pruning stage (``dsi_prune@<method>-<sparsity>-<seed>``): one cell of DSI's pruning grid.

Loads the dense DSI checkpoint of the ``dsi`` stage (``models/dsi``), prunes it with one method of
:data:`irprune.dsi.prune.DSI_METHODS` (the one cell layer's driver on :class:`irprune.dsi.prune.DSITask`) to one
target sparsity while training on the same examples (train-prune-recover with one-shot magnitude pruning, or gradual magnitude pruning; ``dsi.prune``), retrieves the
test queries by constrained beam search, evaluates on the indexed subset (as the dense stage does), and writes
into ``runs/dsi_prune/<method>-<sparsity>-<seed>/``:

* ``cell.test.json`` -- the results-table cell (``task = "dsi"``, :mod:`irprune.cells.schema`);
* ``test.trec`` and ``per_query.json`` (``{"test": {metric: {qid: value}}}``);
* ``mask_summary.json`` -- achieved sparsity overall, of the encoder and of the decoder separately, per tensor,
  against the target; the PQ Index of the kept weights (Diao et al. 2023);
* ``pruning_log.json`` -- sparsity and PQ Index at every mask update (:class:`irprune.pruning.PruningLog`);
* ``metrics.json`` -- the full record: every metric (Hits@1/10 included), the sparsities, the timings.

The seed is that of recovery training (batch order); the dense model is the ``dsi`` stage's (``dsi.train.seed``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import paths
from ..config import frozen, param
from ..data.store import read_dataset
from ..dsi.config import DSIConfig
from ..dsi.data import build_examples, restrict_qrels, select_documents
from ..dsi.model import load_dsi
from ..dsi.prune import DSI_METHODS, dsi_prunable, prune_recover
from ..dsi.retrieve import check_beam, retrieve
from ..errors import DataFormatError
from ..evaluation import EvalConfig
from ..io import atomic_write_json
from ..models.device import select_device
from ..pruning import PruningLog, nonzero_params
from ..pruning.driver import check_cell
from ..pruning.sparsity import sparsity_columns
from ..cells.schema import make_cell, write_cell
from ..runs import write_trec_run
from . import dsi_stage

RUN_ROOT = paths.RUNS / "dsi_prune"


@frozen
class DSIPruneStage:
    """Config of the ``dsi_prune`` stage: the ``dsi`` section (subset, training, retrieval, ``dsi.prune``) and the
    evaluation metrics."""

    dsi: DSIConfig = param(DSIConfig)
    evaluation: EvalConfig = param(EvalConfig)


def _tag(sparsity: float) -> str:
    """The sparsity as DVC's templating writes ``${item.sparsity}`` (``str`` of the float)."""
    return str(float(sparsity))


def cell_id(method: str, sparsity: float, seed: int) -> str:
    """``<method>-<sparsity>-<seed>``: the stage's item and the cell's folder name (``magnitude-0.5-0``)."""
    return f"{method}-{_tag(sparsity)}-{int(seed)}"


def cell_dir(method: str, sparsity: float, seed: int, root: Path = RUN_ROOT) -> Path:
    return Path(root) / cell_id(method, sparsity, seed)


@dataclass
class DSIPruneResult:
    cell_id: str
    record: dict[str, Any]
    summary: dict[str, Any]

    def table(self) -> Any:
        import pandas as pd

        keys = ("achieved_sparsity", "encoder_sparsity", "decoder_sparsity", "pqi", "hits@1", "hits@10", "mrr@10",
                "map", "recall@10", "recall@100", "wall_s")
        return pd.Series({k: self.record.get(k) for k in keys}).to_frame(self.cell_id)

    def tensors(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.summary["tensors"]).set_index("name")


def run(cfg: DSIPruneStage, method: str, sparsity: float, seed: int, *, dataset_dir: Path = paths.DATASET,
        checkpoint_dir: Path = dsi_stage.CHECKPOINT, out_root: Path = RUN_ROOT) -> DSIPruneResult:
    """Prune, recover, retrieve and evaluate one cell; write its files (module docstring)."""
    t0 = time.perf_counter()
    sparsity, seed = check_cell(method, sparsity, DSI_METHODS, "DSI"), int(seed)   # before any work
    c = cfg.dsi
    if c.train.threads:
        torch.set_num_threads(c.train.threads)
    if not (Path(checkpoint_dir) / "dsi.json").is_file():
        raise DataFormatError("no dense DSI checkpoint", path=checkpoint_dir, fix="run `dvc repro dsi` first")
    model = load_dsi(checkpoint_dir)
    ds = read_dataset(dataset_dir)
    docs = list(model.docids.ids)
    expected = select_documents(ds, c.n_docs, c.subset_seed)
    if set(docs) != set(expected):
        raise DataFormatError(f"the checkpoint indexes {len(docs)} documents, not the {len(expected)} that "
                              f"dsi.n_docs = {c.n_docs} / dsi.subset_seed = {c.subset_seed} select from the dataset",
                              path=checkpoint_dir, fix="re-run the dsi stage (dvc repro dsi) after changing the "
                                                       "dataset or the subset")
    sub = {d: ds.corpus[d] for d in docs}
    check_beam(model, c.retrieve.beam_size)
    train = ds.split("train")
    ex = build_examples(model.tokenizer.encode, sub, docs, train.queries, train.qrels, c.train.doc_max_tokens,
                        c.train.query_max_tokens)
    ecfg = dsi_stage.eval_config(cfg.evaluation)
    qrels = {s: restrict_qrels(ds.split(s).qrels, sub) for s in ("dev", "test") if s in ds.splits}
    if "test" not in qrels:
        raise DataFormatError("the dataset has no test split", path=dataset_dir, fix="re-run the data stage")
    dev = (ds.split("dev").queries, qrels["dev"]) if "dev" in qrels and c.prune.selection == "train" else None
    prunable = dsi_prunable(model.net, c.prune.include_embeddings)
    dense_prunable = sum(p.numel() for p in prunable.values())
    dense_total = model.num_parameters()
    tcfg = dataclasses.replace(c.train, seed=seed)
    test_queries = ds.split("test").queries

    def evaluate(m: Any) -> dict[str, Any]:
        r = retrieve(m, test_queries, c.retrieve.beam_size, batch_size=c.retrieve.batch_size,
                     max_query_tokens=c.train.query_max_tokens, device=select_device(c.train.device))
        agg, per = dsi_stage.score(qrels["test"], r, ecfg)
        return {"metrics": agg, "per_query": per, "run": r}

    plog = PruningLog()
    res = prune_recover(model, sparsity, ex, tcfg, c.prune, method=method, dev=dev, beam_size=c.retrieve.beam_size,
                        relevance_level=ecfg.relevance_level, pruning_log=plog, evaluator=evaluate)
    prune_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    out = cell_dir(method, sparsity, seed, out_root)
    evaluated = res.task.evaluate()
    agg, per = evaluated["metrics"], evaluated["per_query"]
    write_trec_run(evaluated["run"], out / "test.trec", tag=f"dsi-{cell_id(method, sparsity, seed)}")
    eval_s = time.perf_counter() - t1
    atomic_write_json(out / "per_query.json", {"test": per})
    nonzero = nonzero_params(model.net)
    cid = cell_id(method, sparsity, seed)
    summary = {"cell": cid, "model": "dsi", "method": method, "target_sparsity": sparsity, "seed": seed,
               "achieved_sparsity": res.sparsity["all"], "encoder_sparsity": res.sparsity["encoder"],
               "decoder_sparsity": res.sparsity["decoder"], "pqi": res.pqi, "scope": c.prune.scope,
               "include_embeddings": c.prune.include_embeddings, "dense_total_params": dense_total,
               "dense_prunable_params": dense_prunable, "nonzero_params": nonzero, "tensors": res.tensors}
    atomic_write_json(out / "mask_summary.json", summary)
    plog.save(out / "pruning_log.json")
    wall = time.perf_counter() - t0
    rec = res.recovery
    record = {"cell": cid, "method": method, "target_sparsity": sparsity, "seed": seed, **agg,
              **{k: summary[k] for k in ("achieved_sparsity", "encoder_sparsity", "decoder_sparsity", "pqi")},
              "n_docs": len(docs), "id_scheme": model.docids.scheme, "relevance_level": ecfg.relevance_level,
              "recovery_steps": c.prune.recovery_steps, "selection": c.prune.selection,
              "selected_step": rec.best_step if rec else 0, "recovery_train_s": rec.train_s if rec else 0.0,
              "prune_s": prune_s, "eval_s": eval_s, "wall_s": wall}
    atomic_write_json(out / "metrics.json", record)
    write_cell(out / "cell.test.json", make_cell(
        task=dsi_stage.TASK, model="dsi", method=method, target_sparsity=sparsity,
        achieved_sparsity=res.sparsity["all"], seed=seed, split="test", primary_metric=dsi_stage.PRIMARY,
        **dsi_stage.ranking_columns(agg), **sparsity_columns(model.net, prunable),
        nonzero_params=nonzero, pqi=res.pqi, wall_time_s=wall, per_query_path=str(out / "per_query.json")))
    print(f"dsi_prune@{cid}: sparsity {res.sparsity['all']:.4f} (encoder {res.sparsity['encoder']:.4f}, decoder "
          f"{res.sparsity['decoder']:.4f}; target {sparsity}); test hits@10 {agg['hits@10']:.4f}, MAP "
          f"{agg['map']:.4f}; {wall:.0f}s")
    return DSIPruneResult(cell_id=cid, record=record, summary=summary)


__all__ = ["DSIPruneStage", "DSIPruneResult", "RUN_ROOT", "cell_id", "cell_dir", "run"]
