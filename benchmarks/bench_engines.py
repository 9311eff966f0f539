"""What pruning buys in measured CPU time: monoBERT on every inference engine, dense, unstructured-sparse and
structured.

The model is ``params.yaml``'s ``models.monobert`` built as ``train@monobert`` builds it (the trained checkpoint
``models/monobert-s0`` when it exists, else the pretrained start with its new score head).  Variants:

* ``dense``, and global magnitude sparsity 50/80/90/95% on the encoder's linear layers (Q/K/V/O and FFN; the
  pooler and score head stay dense), masks folded into plain zero weights, no fine-tuning (latency does not depend
  on the values, only on where the zeros are);
* ``structured-S``: the same fraction of attention heads and FFN neurons removed so that S of the prunable weights
  go (:func:`irprune.pruning.prune_structured`), a smaller dense model.

Workload: ``--n-queries`` queries x ``--k`` candidates (one call = one query's k pairs, padded to the longest),
texts of the checkpoint's own word pieces at the config's full lengths.  Per thread count, engine and variant:
median ms per call (:func:`irprune.costs.engines.measure_engines`: warm-up excluded, engines interleaved within
a variant), the speed-up over dense torch fp32, and the agreement with the same variant on torch (max |Δscore|,
share of queries with the same top-10 order).  ``--rounds`` repeats the whole sweep and keeps each cell's median
round, so drift on a shared machine falls on every variant.

Quote numbers from a quiet machine; on a shared one set ``OMP_WAIT_POLICY=PASSIVE`` and say they were measured
under load.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_engines.py [--threads 1 2] [--engines ...]
        [--sparsities 0.5 0.8 0.9 0.95] [--structured 0.5] [--k 100] [--n-queries 5] [--rounds 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from irprune import paths
from irprune.costs.engines import ENGINES, available_engines, measure_engines
from irprune.io import atomic_write_json
from irprune.models import build_model, load_checkpoint
from irprune.pruning import fold, prunable_parameters, prune_oneshot, prune_structured
from irprune.training.spec import parse_model_spec

ENCODER_ONLY = ("*pooler*", "*classifier*")


def load_monobert(params_path: Path, checkpoint: str | None) -> tuple[Any, str]:
    ckpt = Path(checkpoint) if checkpoint else paths.model_dir(paths.trained("monobert", 0))
    if ckpt.is_dir():
        return load_checkpoint(ckpt, expect="monobert").eval(), f"trained checkpoint {ckpt}"
    params = yaml.safe_load(params_path.read_text())
    spec = parse_model_spec("monobert", params["models"]["monobert"])
    model = build_model("monobert", spec.config, None, seed=0).eval()
    return model, f"{spec.config.pretrained} start (no trained checkpoint at {ckpt}; score head untrained)"


def workload(model: Any, n: int, k: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``n`` queries x ``k`` candidates of random whole-word pieces of the model's tokenizer, full length."""
    rng = random.Random(seed)
    vocab = [t for t in model.text.get_vocab() if t.isalpha() and t.isascii() and len(t) > 2]
    vocab.sort()
    ql, dl = model.cfg.max_query_len, model.cfg.max_doc_len
    out = []
    for _ in range(n):
        q = " ".join(rng.choices(vocab, k=ql))
        pairs = [(q, " ".join(rng.choices(vocab, k=dl))) for _ in range(k)]
        out.append(model.collate(pairs))
    return out


def variants(model: Any, sparsities: list[float], structured: list[float],
             batches: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
    out: dict[str, Any] = {"dense": model}
    for s in sparsities:
        m = copy.deepcopy(model)
        prune_oneshot(m, "magnitude", s, prunable=prunable_parameters(m, ("linear",), ENCODER_ONLY))
        out[f"magnitude-{s:g}"] = fold(m).eval()
    for s in structured:
        m = copy.deepcopy(model)
        prunable = sum(p.numel() for p in prunable_parameters(m, ("linear",)).values())
        prune_structured(m.bert, s, prunable, batches[:1], lambda mm, b: m(b).pow(2).mean(), lambda mm, b: m(b))
        out[f"structured-{s:g}"] = m.eval()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--checkpoint", help="a monoBERT checkpoint directory (default models/monobert-s0 if present)")
    ap.add_argument("--engines", nargs="+", default=ENGINES.names(), choices=ENGINES.names())
    ap.add_argument("--sparsities", nargs="+", type=float, default=[0.5, 0.8, 0.9, 0.95])
    ap.add_argument("--structured", nargs="*", type=float, default=[0.5])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--n-queries", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", help="also write every record to this JSON file")
    args = ap.parse_args()
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        print("note: OMP_WAIT_POLICY is not PASSIVE; on a shared machine multi-thread timings can be erratic",
              file=sys.stderr)

    model, origin = load_monobert(Path(args.params), args.checkpoint)
    batches = workload(model, args.n_queries, args.k)
    models = variants(model, args.sparsities, args.structured, batches)
    engines = ["torch", *(e for e in args.engines if e != "torch")]
    print(f"monoBERT: {origin}; {sum(p.numel() for p in model.parameters()):,} parameters; "
          f"{args.n_queries} queries x {args.k} pairs x {batches[0]['input_ids'].shape[1]} tokens")
    for name, note in available_engines().items():
        if name in engines and note:
            print(f"  {name}: {note}")

    # records[threads][variant][engine] = list over rounds
    records: dict[int, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    t0 = time.perf_counter()
    for r in range(args.rounds):
        for threads in args.threads:
            for vname, m in models.items():
                rec = measure_engines(m, batches, engines, warmup=args.warmup, repeats=args.repeats, threads=threads)
                for ename, e in rec.items():
                    records.setdefault(threads, {}).setdefault(vname, {}).setdefault(ename, []).append(e)
                print(f"  round {r + 1}/{args.rounds}, {threads} thread(s), {vname}: done "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    def med(recs: list[dict[str, Any]]) -> dict[str, Any]:
        ok = [x for x in recs if x["median_ms"] is not None]
        if not ok:
            return recs[-1]
        return sorted(ok, key=lambda x: x["median_ms"])[len(ok) // 2]

    rows = []
    for threads, per_variant in records.items():
        dense_ms = med(per_variant["dense"]["torch"])["median_ms"]
        for vname, per_engine in per_variant.items():
            for ename, recs in per_engine.items():
                e = med(recs)
                rows.append({"threads": threads, "variant": vname, "engine": ename, "status": e["status"],
                             "note": e["note"], "median_ms": e["median_ms"],
                             "speedup_vs_dense_torch": (dense_ms / e["median_ms"]) if e["median_ms"] and dense_ms
                             else None, "max_abs_diff": e["max_abs_diff"], "top10_same_order": e["top10_same_order"],
                             "reference_score_std": e.get("reference_score_std"),
                             "info": e["info"]})
    vnames = list(models)
    for threads in args.threads:
        print(f"\n{threads} thread(s): median ms per query ({args.k} pairs) and speed-up over dense torch fp32")
        print(f"{'engine':<18}" + "".join(f"{v:>18}" for v in vnames))
        for ename in engines:
            cells = []
            for v in vnames:
                row = next(x for x in rows if x["threads"] == threads and x["variant"] == v and x["engine"] == ename)
                cells.append(f"{row['median_ms']:8.1f} {row['speedup_vs_dense_torch']:5.2f}x"
                             if row["median_ms"] else f"{'-':>14}")
            print(f"{ename:<18}" + "".join(f"{c:>18}" for c in cells))
        print("top-10 same order (share of queries) / max |Δscore| against torch on the same variant")
        spread = [next(x for x in rows if x["threads"] == threads and x["variant"] == v and x["engine"] == "torch")
                  ["reference_score_std"] for v in vnames]
        print(f"{'(torch score std)':<18}" + "".join(f"{s:>18.1e}" if s is not None else f"{'-':>18}" for s in spread))
        for ename in engines:
            if ename == "torch":
                continue
            cells = []
            for v in vnames:
                row = next(x for x in rows if x["threads"] == threads and x["variant"] == v and x["engine"] == ename)
                cells.append(f"{row['top10_same_order']:.2f} / {row['max_abs_diff']:.1e}"
                             if row["top10_same_order"] is not None else "-")
            print(f"{ename:<18}" + "".join(f"{c:>18}" for c in cells))
    notes = {(x["engine"], x["note"]) for x in rows if x["note"]}
    for ename, note in sorted(notes, key=lambda t: (t[0], t[1] or "")):
        print(f"{ename}: {note}")
    if args.json:
        atomic_write_json(args.json, {"origin": origin, "k": args.k, "n_queries": args.n_queries,
                                      "tokens": int(batches[0]["input_ids"].shape[1]), "rounds": args.rounds,
                                      "rows": rows})
    print(f"\n{time.perf_counter() - t0:.0f} s; medians of {args.rounds} round(s)"
          f"; quote as 'measured under load' unless the machine was quiet")


if __name__ == "__main__":
    main()
