"""Seed robustness of the dense rankers against BM25: `train@<model>-0` once per `train.seed`.

Clones the committed HEAD into a scratch directory (the project's outputs are untouched), runs
`dvc repro bm25 pretrain` there once (data, BM25 runs, tokenizer, MLM, word vectors), then for every seed and model:
merges ``{train: {seed: S}}`` (plus an optional ``--overlay`` file, e.g. another learning rate) into the clone's
``params.yaml`` with ``python -m irprune.overlay`` and runs ``dvc repro -s -f train@<model>-0`` (training seed 0
trains at ``train.seed``; the study's own seeds are ``grid.train_seeds``).  It prints, per
run, dev MRR@10, test MRR@10, the paired test's p-value against BM25 (the stage's ``vs_bm25``), the selected
step and the training time, then per model how many seeds beat BM25 significantly.

    python benchmarks/bench_seeds.py                                  # conv_knrm, conformer_kernel; seeds 0 1 2
    python benchmarks/bench_seeds.py --models conv_knrm --seeds 1 --overlay my-lr.yaml
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_study import clone_head  # noqa: E402  (the scratch clone bench_study times the study in)


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["conv_knrm", "conformer_kernel"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--overlay", type=Path, help="a params overlay applied before the seed (configs/*.yaml style)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch clone")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    if args.overlay is not None and not args.overlay.is_file():
        sys.exit(f"--overlay {args.overlay}: no such file")

    work = Path(tempfile.mkdtemp(prefix="bench-seeds-"))
    rows = []
    try:
        clone, env = clone_head(work)
        base = (clone / "params.yaml").read_text(encoding="utf-8")
        overlays = [args.overlay.resolve()] if args.overlay else []
        for ov in overlays:
            _run([sys.executable, "-m", "irprune.overlay", str(ov)], clone, env)
        _run([sys.executable, "-m", "dvc", "repro", "bm25", "pretrain"], clone, env)
        for seed in args.seeds:
            for model in args.models:
                (clone / "params.yaml").write_text(base, encoding="utf-8")
                seed_file = work / "seed.yaml"
                seed_file.write_text(yaml.safe_dump({"train": {"seed": seed}}), encoding="utf-8")
                for ov in [*overlays, seed_file]:
                    _run([sys.executable, "-m", "irprune.overlay", str(ov)], clone, env)
                _run([sys.executable, "-m", "dvc", "repro", "-s", "-f", f"train@{model}-0"], clone, env)
                m = json.loads((clone / "metrics" / f"{model}-s0.json").read_text(encoding="utf-8"))
                row = {"model": model, "seed": seed, "dev_mrr10": m["dev"]["mrr@10"], "test_mrr10": m["test"]["mrr@10"],
                       "p_vs_bm25": m["vs_bm25"]["p_value"], "significant": bool(m["vs_bm25"]["significant"]),
                       "beats_bm25": bool(m["vs_bm25"]["beats_bm25"]), "selected_step": m["selected_step"],
                       "train_seconds": m["train_seconds"]}
                rows.append(row)
                print(f"{model:18s} seed {seed}: dev {row['dev_mrr10']:.3f}  test {row['test_mrr10']:.3f}  "
                      f"p = {row['p_vs_bm25']:.4g}  step {row['selected_step']}  {row['train_seconds']:.0f} s",
                      flush=True)
        for model in args.models:
            mine = [r for r in rows if r["model"] == model]
            wins = sum(r["beats_bm25"] and r["significant"] for r in mine)
            print(f"{model}: significantly above BM25 for {wins} of {len(mine)} seeds")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
