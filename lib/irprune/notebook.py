"""Run one pipeline notebook with papermill: ``python -m irprune.notebook STAGE [-p NAME VALUE ...]``.

This is the command every DVC stage runs.  It sets the project-local caches (nothing is written outside the
project, nothing reaches the network unless ``OFFLINE=0``), creates the log folder (papermill does not, and DVC
deletes outputs before a stage runs), executes ``notebooks/STAGE.ipynb`` with the given parameters injected
after its ``parameters`` cell, and keeps the executed copy in ``logs/`` as the stage's log.  The notebook's output
stays in the log; only its progress lines (:mod:`irprune.progress`) reach the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import paths
from .progress import ENV_EVERY, TerminalEcho

KERNEL_NAME = "irprune"


def project_env(root: Path) -> None:
    """Project-local caches and offline defaults; values already set by the user win."""
    cache = root / ".cache"
    os.environ.setdefault("HF_HOME", str(cache / "huggingface"))
    os.environ.setdefault("IR_DATASETS_HOME", str(cache / "ir_datasets"))
    os.environ.setdefault("MPLCONFIGDIR", str(cache / "matplotlib"))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache / "numba"))
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    # inference engines (irprune.costs.engines, which also sets these before importing one): DeepSparse's usage
    # analytics, NNCF's telemetry (its only use of NNCF_CI)
    os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
    os.environ.setdefault("NNCF_CI", "1")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if os.environ.get("OFFLINE", "1") != "0":
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ.setdefault(var, "1")


def _parse_value(text: str) -> object:
    """papermill-style literal parsing: ints, floats, booleans, else the string."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text in ("True", "False", "true", "false"):
        return text.lower() == "true"
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m irprune.notebook", description=__doc__)
    ap.add_argument("stage", help="notebook name under notebooks/ (without .ipynb)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--item", default=None, help="matrix/foreach item name, used in the log file name")
    args = ap.parse_args(argv)

    root = Path.cwd()
    nb = paths.notebook(args.stage)
    if not nb.is_file():
        known = sorted(p.stem for p in paths.NOTEBOOKS.glob("*.ipynb"))
        print(f"error: notebook {nb} not found; known stages: {', '.join(known)}", file=sys.stderr)
        return 2
    log = paths.notebook_log(args.stage, args.item)
    log.parent.mkdir(parents=True, exist_ok=True)
    project_env(root)
    if not sys.stderr.isatty():                   # CI logs: fewer progress lines
        os.environ.setdefault(ENV_EVERY, "30")
    params = {name: _parse_value(value) for name, value in args.parameter}

    import papermill as pm
    from jupyter_client.kernelspec import NoSuchKernel, KernelSpecManager

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        kernel = KERNEL_NAME
    except NoSuchKernel:
        kernel = "python3"
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(nb), str(log), parameters=params, kernel_name=kernel, progress_bar=False,
                            cwd=str(root), log_output=False, stderr_file=TerminalEcho(sys.stderr))
    except pm.PapermillExecutionError as e:
        print(f"error: stage {args.stage} failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
              f"(the executed notebook with the traceback is {log})", file=sys.stderr)
        return 1
    print(f"{args.stage}: done in {time.perf_counter() - t0:.1f}s (log: {log})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
