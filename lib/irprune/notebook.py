"""Run one pipeline notebook with papermill: ``python -m irprune.notebook STAGE [-p NAME VALUE ...]``.

This is the command every DVC stage runs.  It sets the project-local caches (nothing is written outside the
project, nothing reaches the network unless ``OFFLINE=0``), creates the log folder (papermill does not, and DVC
deletes outputs before a stage runs), executes ``notebooks/STAGE.ipynb`` with the given parameters injected
after its ``parameters`` cell, and keeps the executed copy in ``logs/`` as the stage's log.  The notebook's output
stays in the log; only its progress lines (:mod:`irprune.progress`) reach the terminal.

Every stage pays this runner's start-up, so it is kept lean (``benchmarks/bench_overhead.py`` measures it): papermill
is imported without the optional modules that cost seconds and serve no local notebook (:data:`SKIPPED_IMPORTS`), the
kernel starts without the debugger (:func:`lean_kernel_cmd`) and is stopped at once when the last cell is done.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import paths
from .progress import ENV_EVERY, TerminalEcho

KERNEL_NAME = "irprune"
# Optional modules that papermill's import pulls in and this runner never uses: jsonschema builds an IRI grammar at
# import time when rfc3987_syntax is installed (2-3 s; nbformat's schema has no IRI field), and papermill's HDFS
# handler imports pyarrow (0.3 s).  They are hidden only while papermill is imported (:func:`_without`).
SKIPPED_IMPORTS = ("rfc3987_syntax", "pyarrow")
# The kernel of a batch run: the spec's Python with ipykernel's debugger off (debugpy is what the spec's
# -Xfrozen_modules=off is for, and importing it costs 0.5 s); JupyterLab keeps the spec as installed.
_LAUNCH_WITHOUT_DEBUGGER = ("import sys; sys.modules['debugpy'] = None; "
                            "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()")


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


@contextmanager
def _without(modules: tuple[str, ...]) -> Iterator[None]:
    """Make ``import NAME`` fail for the given top-level modules not yet imported, for the duration of the block."""
    hidden = [name for name in modules if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def lean_kernel_cmd(cmd: list[str]) -> list[str]:
    """An ipykernel command line (``PYTHON [FLAGS] -m ipykernel_launcher ARGS``) as the same Python running the
    kernel without its debugger; any other command is returned unchanged."""
    if "ipykernel_launcher" not in cmd or cmd[cmd.index("ipykernel_launcher") - 1] != "-m":
        return cmd
    return [cmd[0], "-c", _LAUNCH_WITHOUT_DEBUGGER, *cmd[cmd.index("ipykernel_launcher") + 1:]]


def _kernel_manager_class() -> type:
    from jupyter_client.manager import AsyncKernelManager

    class BatchKernelManager(AsyncKernelManager):
        """The kernel spec's command with the debugger off (:func:`lean_kernel_cmd`)."""

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return lean_kernel_cmd(super().format_kernel_cmd(extra_arguments))

    return BatchKernelManager


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

    with _without(SKIPPED_IMPORTS):
        import papermill as pm
    from jupyter_client.kernelspec import NoSuchKernel, KernelSpecManager

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        kernel = KERNEL_NAME
    except NoSuchKernel:
        kernel = "python3"
    t0 = time.perf_counter()
    try:
        # shutdown_kernel="immediate": the outputs of every cell are in by then; a graceful stop costs 0.5-1 s
        pm.execute_notebook(str(nb), str(log), parameters=params, kernel_name=kernel, progress_bar=False,
                            cwd=str(root), log_output=False, stderr_file=TerminalEcho(sys.stderr),
                            kernel_manager_class=_kernel_manager_class(), shutdown_kernel="immediate")
    except pm.PapermillExecutionError as e:
        print(f"error: stage {args.stage} failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
              f"(the executed notebook with the traceback is {log})", file=sys.stderr)
        return 1
    print(f"{args.stage}: done in {time.perf_counter() - t0:.1f}s (log: {log})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
