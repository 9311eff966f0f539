"""Recovery length of the pruning cells: dev MRR@10 of a ranker pruned to 0.9 against its recovery steps.

Every pruned cell fine-tunes for ``prune.recovery_steps`` optimizer steps (one-shot methods: after pruning, mask
fixed; GMP: the cubic schedule of Zhu & Gupta 2017 spans them).  This benchmark asks whether the default is where
dev effectiveness stops rising.  Per ranker it loads the dense model of the train stage (``models/<model>-s0``,
trained by the train stage's own ``run`` when absent), prunes it through the cell layer
(:func:`irprune.pruning.driver.run_method` on :class:`irprune.prune_cell.RankingTask`, seeded as
:func:`irprune.prune_cell.run_cell` seeds it) and scores dev MRR@10 with the train stage's checkpoint-selection
evaluator (:class:`irprune.training.DevEvaluator`: the first ``train.eval_queries`` judged dev queries, BM25's top
``train.eval_depth`` re-ranked).  Three series per ranker:

* ``magnitude``: one-shot magnitude, then ``L`` recovery steps, for each length ``L`` (a fresh cell per length:
  recovery's learning rate warms up and decays linearly to 0 at its last step, so ``L`` steps of a longer run are
  not an ``L``-step cell);
* ``curve``: dev MRR@10 every ``--every`` steps inside the longest magnitude run (the shape within one schedule;
  evaluation runs under a forked RNG, so the run's end equals the separate cell of that length);
* ``gmp``: GMP with the schedule spread over ``L`` steps, final dev MRR@10 per length.

"Flattens at" is the shortest length whose dev MRR@10 is within ``--tol`` (default 0.005) of the series' best;
each length also reports the paired standard error of its per-query difference from the best length (the
noise of one dev set) and the shortest length within one such SE of the best.

    python benchmarks/bench_recovery.py --seeds 0 1 2                      # kernel models, 0-3x the default
    python benchmarks/bench_recovery.py --models monobert --methods magnitude --lengths 0 25 50 100 200 300 --every 0
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from irprune.errors import ConfigError
from irprune.evaluation import evaluate
from irprune.prune_cell import PruneConfig, RankingTask
from irprune.pruning.apply import current_mask
from irprune.pruning.cell import TrainHooks
from irprune.pruning.driver import run_method
from irprune.rerank import rerank
from irprune.training import DevEvaluator, TrainConfig, TrainingPool

DevFn = Callable[[nn.Module], dict[str, float]]          # model -> {qid: dev metric}
MULTIPLES = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)


def dev_score(evaluator: DevEvaluator) -> DevFn:
    """``model -> {qid: metric}``: the per-query scores behind ``evaluator``'s mean (its queries, candidates, depth
    and metric), without disturbing a training run: the RNG state is forked and the train/eval mode restored."""

    def score(model: nn.Module) -> dict[str, float]:
        was = model.training
        with torch.random.fork_rng(devices=[]):
            run = rerank(model, evaluator.queries, evaluator.corpus, evaluator.candidates,  # type: ignore[arg-type]
                         depth=evaluator.depth, batch_size=evaluator.batch_size)
            per_query = evaluate(evaluator.qrels, run, evaluator.cfg).per_query[evaluator.metric]
        model.train(was)
        return per_query

    return score


def mean(per_query: dict[str, float]) -> float:
    return sum(per_query.values()) / len(per_query)


def paired_se(a: dict[str, float], b: dict[str, float]) -> float:
    """Standard error of the mean per-query difference ``a - b`` (same queries): ``sd(d) / sqrt(n)``."""
    d = [a[q] - b[q] for q in a]
    if len(d) < 2:
        return 0.0
    m = sum(d) / len(d)
    return math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d))


@dataclass
class CurveTask(RankingTask):
    """The ranking adapter, plus dev scores before recovery and after every ``every`` optimizer steps of it."""

    dev: DevFn | None = None
    every: int = 0
    curve: list[tuple[int, float]] = field(default_factory=list)

    def train(self, hooks: TrainHooks, steps: int | None = None) -> Any:
        if self.dev is None or self.every <= 0:
            return super().train(hooks, steps)
        dev, every, inner = self.dev, self.every, hooks.after_step
        self.curve.append((0, mean(dev(self.model))))

        def after_step(step: int) -> None:
            if inner is not None:
                inner(step)
            if step % every == 0:
                self.curve.append((step, mean(dev(self.model))))

        return super().train(dataclasses.replace(hooks, after_step=after_step), steps)


def prune_recover(dense: nn.Module, method: str, sparsity: float, steps: int, cfg: PruneConfig, tcfg: TrainConfig,
                  pool: TrainingPool, dev: DevFn, *, every: int = 0, seed: int = 0) -> dict[str, Any]:
    """A copy of ``dense`` pruned by ``method`` to ``sparsity`` with ``steps`` recovery steps, as one grid cell
    does; returns its final dev score (mean and per query), the in-run curve (``every`` > 0), achieved sparsity
    and seconds."""
    model = copy.deepcopy(dense)
    task = CurveTask(model, dataclasses.replace(cfg, recovery_steps=steps), tcfg, pool, seed, dev=dev, every=every)
    torch.manual_seed(tcfg.seed + 1000 * seed)                   # run_cell's seeding of a cell
    t0 = time.perf_counter()
    cell = run_method(task, method, sparsity, seed)
    seconds = time.perf_counter() - t0
    mask = {n: k for n, k in current_mask(model).items() if n in cell.prunable}
    kept = sum(int(k.sum()) for k in mask.values())
    total = sum(k.numel() for k in mask.values())
    per_query = dev(model)
    return {"steps": steps, "dev": mean(per_query), "per_query": per_query, "curve": [list(p) for p in task.curve],
            "sparsity": 1.0 - kept / total if total else 0.0, "seconds": round(seconds, 2)}


def flattens_at(points: list[tuple[int, float]], tol: float) -> int | None:
    """The fewest steps whose score is within ``tol`` of the best score of ``points`` ((steps, score) pairs)."""
    if not points:
        return None
    best = max(v for _, v in points)
    return min(s for s, v in points if v >= best - tol)


def against_best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per row (cells of one method, with ``per_query``): the gap to the best row's mean and the paired SE of that
    gap (written into the rows), and the fewest steps within one SE of the best."""
    if not rows:
        return {"best_steps": None, "flattens_at_1se": None}
    best = max(rows, key=lambda r: (r["dev"], -r["steps"]))
    for r in rows:
        r["gap_to_best"] = best["dev"] - r["dev"]
        r["se_vs_best"] = paired_se(best["per_query"], r["per_query"])
    return {"best_steps": best["steps"],
            "flattens_at_1se": min(r["steps"] for r in rows if r["gap_to_best"] <= r["se_vs_best"])}


def bench_model(dense: nn.Module, cfg: PruneConfig, tcfg: TrainConfig, pool: TrainingPool, dev: DevFn, *,
                methods: tuple[str, ...], lengths: tuple[int, ...], every: int, sparsity: float, tol: float,
                seeds: tuple[int, ...] = (0,), log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """All series of one ranker: per method, one cell per length and seed (GMP skips 0 and any length its schedule
    does not fit in, noted under ``skipped``); the magnitude cell of the longest length at the first seed records
    the in-run curve every ``every`` steps.  A length's ``dev`` is the mean over ``seeds`` (the cell seed: the
    recovery's batch order), ``sd_seeds`` their standard deviation, ``per_query`` the seeds' mean per query."""
    out: dict[str, Any] = {"dense_dev": mean(dev(dense)), "default_steps": cfg.recovery_steps, "sparsity": sparsity}
    longest = max(lengths)
    for method in methods:
        rows = []
        for steps in sorted(lengths):
            try:
                runs = [prune_recover(dense, method, sparsity, steps, cfg, tcfg, pool, dev, seed=seed,
                                      every=every if method == "magnitude" and steps == longest and i == 0 else 0)
                        for i, seed in enumerate(seeds)]
            except ConfigError as e:                      # e.g. GMP's schedule does not fit in so few steps
                log(f"  {method:9s} {steps:5d} steps: skipped ({e})")
                out.setdefault("skipped", []).append({"method": method, "steps": steps, "reason": str(e)})
                continue
            devs = [x["dev"] for x in runs]
            m = sum(devs) / len(devs)
            r = {**runs[0], "dev": m, "dev_by_seed": devs,
                 "sd_seeds": math.sqrt(sum((d - m) ** 2 for d in devs) / (len(devs) - 1)) if len(devs) > 1 else 0.0,
                 "per_query": {q: sum(x["per_query"][q] for x in runs) / len(runs) for q in runs[0]["per_query"]},
                 "seconds": round(sum(x["seconds"] for x in runs), 2)}
            log(f"  {method:9s} {steps:5d} steps: dev {m:.4f} (seeds: {', '.join(f'{d:.4f}' for d in devs)}; "
                f"sparsity {r['sparsity']:.3f}, {r['seconds']:.0f} s)")
            if r["curve"]:
                out["curve"] = r["curve"]
                out["curve_flattens_at"] = flattens_at([tuple(p) for p in r["curve"]], tol)
            rows.append(r)
        best = against_best(rows)
        out[method] = {"lengths": [{k: v for k, v in r.items() if k not in ("curve", "per_query")} for r in rows],
                       "flattens_at": flattens_at([(r["steps"], r["dev"]) for r in rows], tol), **best}
    return out


def table(model: str, res: dict[str, Any], tol: float) -> str:
    """The per-model text table: steps -> dev per method, the in-run curve, and the flattening points."""
    lines = [f"{model}: dense dev MRR@10 {res['dense_dev']:.4f}; sparsity {res['sparsity']}; default "
             f"recovery_steps {res['default_steps']}"]
    methods = [m for m in ("magnitude", "gmp") if m in res]
    steps = sorted({r["steps"] for m in methods for r in res[m]["lengths"]})
    lines.append(f"  {'steps':>6} " + " ".join(f"{m + ': dev (best - dev +- SE) sd(seeds)':>44}" for m in methods))
    for s in steps:
        cells = []
        for m in methods:
            v = [r for r in res[m]["lengths"] if r["steps"] == s]
            cells.append(f"{v[0]['dev']:12.4f} ({v[0]['gap_to_best']:+.4f} +- {v[0]['se_vs_best']:.4f}) "
                         f"{v[0]['sd_seeds']:9.4f}" if v else f"{'-':>44}")
        lines.append(f"  {s:6d} " + " ".join(cells))
    if "curve" in res:
        lines.append("  in-run magnitude curve (step: dev): "
                     + ", ".join(f"{int(s)}: {v:.4f}" for s, v in res["curve"]))
    rule = f"flattens at (first length within {tol} of the best):"
    lines.append(f"  {rule} " + "; ".join(f"{m} {res[m]['flattens_at']}" for m in methods)
                 + (f"; in-run curve {res['curve_flattens_at']}" if "curve" in res else ""))
    lines.append("  flattens at (first length within 1 paired SE of the best): "
                 + "; ".join(f"{m} {res[m]['flattens_at_1se']}" for m in methods))
    return "\n".join(lines)


def _load(model: str, params: str, threads: int) -> tuple[Any, ...]:
    """The dense ranker, prune and train configs, training pool and dev scorer, as the train and prune stages
    build them from ``params`` and the outputs under the working directory."""
    from irprune import paths
    from irprune.data.store import read_dataset
    from irprune.models import load_checkpoint
    from irprune.evaluation import eval_config_for
    from irprune.runs import read_trec_run
    from irprune.stages import load_stage
    from irprune.training import build_pool

    for need in (paths.DATASET, paths.bm25_run("dev")):
        if not Path(need).exists():
            sys.exit(f"{need} not found; run `dvc repro bm25 pretrain` first")
    cfg = load_stage("prune", params, item={"model": model})
    tcfg = dataclasses.replace(cfg.model.train_config(cfg.train), threads=threads, progress=False)
    torch.set_num_threads(threads)
    ckpt = paths.model_dir(paths.trained(model, 0))
    if not ckpt.is_dir():
        from irprune.pipeline import train_stage

        print(f"{ckpt} not found: training it with the train stage (as `dvc repro train@{model}-0`)", flush=True)
        train_stage.run(load_stage("train", params, item={"model": model, "seed": 0}), 0)
    dense = load_checkpoint(ckpt, expect=model)
    ds = read_dataset(paths.DATASET)
    train, dev = ds.splits["train"], ds.splits["dev"]
    pool = build_pool(train.queries, train.qrels, read_trec_run(paths.bm25_run("train")), ds.corpus_for("train"),
                      depth=tcfg.negative_depth)
    evaluator = DevEvaluator(dev.queries, dev.qrels, ds.corpus, read_trec_run(paths.bm25_run("dev")),
                             eval_config_for(dev.qrels, cfg.evaluation), tcfg.metric, depth=tcfg.eval_depth,
                             n_queries=tcfg.eval_queries, batch_size=tcfg.batch_size_eval)
    return dense, cfg.prune, tcfg, pool, dev_score(evaluator)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["conv_knrm", "conformer_kernel"],
                    choices=["conv_knrm", "conformer_kernel", "monobert"])
    ap.add_argument("--methods", nargs="+", default=["magnitude", "gmp"], choices=["magnitude", "gmp"])
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--lengths", nargs="+", type=int,
                    help=f"recovery lengths (default: {', '.join(map(str, MULTIPLES))} x prune.recovery_steps)")
    ap.add_argument("--every", type=int, default=25, help="in-run curve every n steps of the longest magnitude "
                                                          "run (0 = none)")
    ap.add_argument("--tol", type=float, default=0.005, help="'flattens at' = first length within tol of the best")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0],
                    help="cell seeds (each a recovery batch order) per length; dev is their mean")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if not 0.0 < args.sparsity < 1.0:
        sys.exit(f"--sparsity {args.sparsity}: expected 0 < sparsity < 1")
    if args.lengths is not None and any(s < 0 for s in args.lengths):
        sys.exit(f"--lengths {args.lengths}: steps must be >= 0")

    results: dict[str, Any] = {"sparsity": args.sparsity, "tol": args.tol, "models": {}}
    for model in args.models:
        dense, cfg, tcfg, pool, dev = _load(model, args.params, args.threads)
        lengths = tuple(args.lengths) if args.lengths else tuple(int(round(m * cfg.recovery_steps)) for m in MULTIPLES)
        print(f"{model}: lengths {list(lengths)}", flush=True)
        t0 = time.perf_counter()
        res = bench_model(dense, cfg, tcfg, pool, dev, methods=tuple(args.methods), lengths=lengths,
                          every=args.every, sparsity=args.sparsity, tol=args.tol, seeds=tuple(args.seeds),
                          log=lambda s: print(s, flush=True))
        res["seconds"] = round(time.perf_counter() - t0, 1)
        results["models"][model] = res
        print(table(model, res, args.tol), flush=True)
        if args.json:
            from irprune.io import atomic_write_json

            atomic_write_json(args.json, results)


if __name__ == "__main__":
    main()
