"""Inference engines behind one interface: what a pruned ranker costs when something runs it that can use its
zeros (or its smaller shapes, or lower precision).

Dense torch kernels gain nothing from zero weights; the measured answer to "what does pruning buy?" depends on
the engine.  Each engine of :data:`ENGINES` turns a ranker into a :class:`Runner` (numpy inputs -> scores):

=====================  ===========================================================  ============================
name                   what runs                                                    needs
=====================  ===========================================================  ============================
``torch``              the model itself, fp32 dense kernels (the reference)         (always there)
``torch-csr``          ``nn.Linear`` weights as ``torch.sparse_csr``                (always there)
``onnxruntime``        the exported ONNX graph, CPU execution provider, fp32        ``onnxruntime`` (MIT)
``onnxruntime-int8``   the graph with dynamic int8 weights (``quantize_dynamic``)   ``onnxruntime`` (MIT)
``openvino``           the ONNX graph on OpenVINO's CPU plugin, fp32                ``openvino`` (Apache-2.0)
``openvino-bf16``      the same with bf16 inference precision (CPUs with bf16)      ``openvino``
``openvino-int8``      NNCF post-training int8 quantisation (transformer preset)    ``openvino``, ``nncf``
``deepsparse``         Neural Magic's sparse CPU engine on the ONNX graph, fp32     a separate environment
=====================  ===========================================================  ============================

An engine that is not installed is recorded as ``"not installed: <pip line>"``; one that cannot run the model
(an export that fails, an unsupported CPU feature) as ``"not measured: <reason>"``; the other engines' numbers
are kept.  DeepSparse 1.8.0 pins ``numpy < 2`` and is therefore run in its own environment through
``_deepsparse_worker.py`` (``IRPRUNE_DEEPSPARSE_PYTHON=<that environment's python>``; docs/methods.md).

Telemetry is off: ``NM_DISABLE_ANALYTICS=1`` (DeepSparse), ``NNCF_CI=1`` (NNCF's stub telemetry), ``CI=true``
while ``openvino`` / ``nncf`` are imported (OpenVINO's collector, which otherwise writes a client id and usage
counts under ``~/intel`` on import, then declines), and ONNX Runtime's ``disable_telemetry_events()``, with
``XDG_CACHE_HOME`` defaulting to the project's ``.cache/engines`` for the process (ONNX Runtime keeps a device id
and an event store there, otherwise under ``~/.cache/Microsoft``).

:func:`measure_engines` is the harness: torch fp32 scores every batch once as the reference; every engine is
prepared, checked against it (max |Δscore|, top-10 order, :func:`irprune.costs.onnx_export.agreement`), warmed up
and then timed **interleaved** (per repeat, each engine in turn scores every batch), so slow drift of a shared
machine falls on all engines alike.  Per engine: median and p90 ms per call (one call = one query's ``k``
candidates), speed-up over torch fp32 (ratio of medians).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..registry import Registry
from .onnx_export import ExportResult, agreement, export_onnx, tensor_inputs

Inputs = dict[str, np.ndarray]

#: set for the whole process before an engine is imported (values already set by the user win)
TELEMETRY_ENV = {"NM_DISABLE_ANALYTICS": "1", "NNCF_CI": "1"}
DEEPSPARSE_PYTHON_ENV = "IRPRUNE_DEEPSPARSE_PYTHON"
_CACHE = Path(".cache") / "engines"


class EngineUnavailable(Exception):
    """An engine cannot run this model here; the message is the record's note ("not installed: ...",
    "not measured: ...")."""


@contextlib.contextmanager
def _scoped_env(values: Mapping[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def import_quietly(module: str) -> Any:
    """Import an engine's module with its telemetry off (see the module docstring)."""
    for k, v in TELEMETRY_ENV.items():
        os.environ.setdefault(k, v)
    top = module.split(".")[0]
    scoped: dict[str, str] = {}
    if top in ("openvino", "nncf") and "openvino" not in sys.modules:
        scoped["CI"] = "true"        # openvino_telemetry: disable_in_ci -> consent declined, nothing written
    if top == "onnxruntime" and "onnxruntime" not in sys.modules:
        # its device id and event store follow XDG_CACHE_HOME, read again when sessions run: set for the process
        os.environ.setdefault("XDG_CACHE_HOME", str(_CACHE.resolve()))
    with _scoped_env(scoped):
        mod = importlib.import_module(module)
        if top == "nncf":
            importlib.import_module("openvino")
    if top == "onnxruntime":
        ort = sys.modules["onnxruntime"]
        if hasattr(ort, "disable_telemetry_events"):
            ort.disable_telemetry_events()
    return mod


def _find(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class Runner:
    """A model prepared on one engine.  ``__call__(inputs) -> scores [B]`` (float32); ``timed`` returns the scores
    and the call's milliseconds (overridden where the engine times itself, e.g. in another process)."""

    info: dict[str, Any]

    def __init__(self, fn: Callable[[Inputs], np.ndarray], info: Mapping[str, Any] | None = None,
                 close: Callable[[], None] | None = None) -> None:
        self._fn = fn
        self._close = close
        self.info = dict(info or {})

    def __call__(self, inputs: Inputs) -> np.ndarray:
        return np.asarray(self._fn(inputs), dtype=np.float32).reshape(-1)

    def timed(self, inputs: Inputs) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        out = self(inputs)
        return out, (time.perf_counter() - t0) * 1000.0

    def close(self) -> None:
        if self._close is not None:
            self._close()


@dataclasses.dataclass
class PrepareContext:
    """What an engine gets to prepare a runner: the folded fp32 CPU model, example and calibration batches,
    threads, a scratch folder, and the ONNX export (made once, on first request, shared by the engines)."""

    model: nn.Module
    example: Mapping[str, Tensor]
    calibration: Sequence[Inputs]
    threads: int
    workdir: Path
    _export: ExportResult | None = None

    def onnx(self) -> Path:
        if self._export is None:
            self._export = export_onnx(self.model, self.example, self.workdir / "model.onnx")
        if not self._export.ok or self._export.path is None:
            raise EngineUnavailable(f"not measured: not exportable to ONNX ({self._export.error})")
        return self._export.path

    @property
    def export(self) -> ExportResult | None:
        return self._export


@dataclasses.dataclass(frozen=True)
class Engine:
    """One engine: how to detect it (``modules`` importable, or ``detect``), the pip line that installs it,
    its licence, and ``prepare(ctx) -> Runner``.  ``static_shapes``: batches are padded to one shape first."""

    name: str
    summary: str
    pip: str
    licence: str
    prepare: Callable[[PrepareContext], Runner]
    modules: tuple[str, ...] = ()
    detect: Callable[[], str | None] | None = None
    static_shapes: bool = False

    def missing(self) -> str | None:
        """``None`` if the engine can be tried here, else the record's note."""
        if self.detect is not None:
            return self.detect()
        absent = [m for m in self.modules if not _find(m)]
        return f"not installed: {self.pip}" if absent else None


ENGINES: Registry[Engine] = Registry("inference engine")


def _to_torch(inputs: Inputs) -> dict[str, Tensor]:
    return {k: torch.from_numpy(v) for k, v in inputs.items()}


def _torch_runner(model: nn.Module, info: Mapping[str, Any]) -> Runner:
    def run(inputs: Inputs) -> np.ndarray:
        with torch.inference_mode():
            return model(_to_torch(inputs)).float().numpy()
    return Runner(run, info)


def _prepare_torch(ctx: PrepareContext) -> Runner:
    return _torch_runner(ctx.model, {"precision": "fp32", "version": torch.__version__})


def _prepare_torch_csr(ctx: PrepareContext) -> Runner:
    from .latency import sparsify_linears

    csr, swapped = sparsify_linears(ctx.model)
    if swapped == 0:
        raise EngineUnavailable("not measured: the model has no nn.Linear layers to store as CSR")
    return _torch_runner(csr, {"precision": "fp32", "csr_linear_layers": swapped, "version": torch.__version__})


def _ort_session(path: Path, threads: int) -> Any:
    ort = import_quietly("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # no busy-waiting worker threads: on a shared machine spinning steals the cores other work needs
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _ort_runner(path: Path, threads: int, info: Mapping[str, Any]) -> Runner:
    sess = _ort_session(path, threads)
    out = sess.get_outputs()[0].name
    ort = sys.modules["onnxruntime"]
    return Runner(lambda inputs: sess.run([out], inputs)[0], {"version": ort.__version__, **info})


def _prepare_ort(ctx: PrepareContext) -> Runner:
    return _ort_runner(ctx.onnx(), ctx.threads, {"precision": "fp32"})


def _prepare_ort_int8(ctx: PrepareContext) -> Runner:
    import_quietly("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src = ctx.onnx()
    dst = ctx.workdir / "model.int8.onnx"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)        # its advice to run shape pre-processing first, logged on the root logger
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return _ort_runner(dst, ctx.threads, {"precision": "int8 weights, dynamic int8 activations (MatMul/Gemm)"})


def _ov_runner(model: Any, threads: int, precision: str, info: Mapping[str, Any]) -> Runner:
    ov = import_quietly("openvino")
    core = ov.Core()
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                 "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()

    def run(inputs: Inputs) -> np.ndarray:
        request.infer(inputs)
        return request.get_output_tensor(0).data.copy()
    hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    used = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    return Runner(run, {"version": ov.__version__, "inference_precision": used, **info})


def _ov_capabilities() -> list[str]:
    ov = import_quietly("openvino")
    return [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def _prepare_ov(ctx: PrepareContext) -> Runner:
    ov = import_quietly("openvino")
    return _ov_runner(ov.Core().read_model(str(ctx.onnx())), ctx.threads, "f32", {"precision": "fp32"})


def _prepare_ov_bf16(ctx: PrepareContext) -> Runner:
    caps = _ov_capabilities()
    if "BF16" not in caps:
        raise EngineUnavailable(f"not measured: this CPU has no native bf16 (OpenVINO's CPU capabilities: "
                                f"{', '.join(caps)}); it would run in f32")
    ov = import_quietly("openvino")
    return _ov_runner(ov.Core().read_model(str(ctx.onnx())), ctx.threads, "bf16", {"precision": "bf16"})


def _prepare_ov_int8(ctx: PrepareContext) -> Runner:
    ov = import_quietly("openvino")
    nncf = import_quietly("nncf")
    logging.getLogger("nncf").setLevel(logging.ERROR)
    model = ov.Core().read_model(str(ctx.onnx()))
    calib = list(ctx.calibration)
    with contextlib.redirect_stdout(sys.stderr):
        quantized = nncf.quantize(model, nncf.Dataset(calib), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(calib))
    return _ov_runner(quantized, ctx.threads, "f32", {
        "precision": "int8 (NNCF post-training, transformer preset)", "calibration_batches": len(calib),
        "nncf_version": nncf.__version__})


def deepsparse_python() -> str | None:
    """The Python that runs DeepSparse: ``$IRPRUNE_DEEPSPARSE_PYTHON``, else this one if it has deepsparse, else
    the project's ``.venv-deepsparse`` (made by ``make engines``)."""
    env = os.environ.get(DEEPSPARSE_PYTHON_ENV)
    if env:
        return env
    if _find("deepsparse"):
        return sys.executable
    from ..paths import find_project_root

    root = find_project_root() or Path(__file__).resolve().parents[3]      # the checkout this package lives in
    local = root / ".venv-deepsparse" / "bin" / "python"
    return str(local) if local.exists() else None


_DEEPSPARSE_PIP = (f"make engines, or python3.11 -m venv .venv-deepsparse && .venv-deepsparse/bin/pip install deepsparse==1.8.0, "
                   f"then {DEEPSPARSE_PYTHON_ENV}=.venv-deepsparse/bin/python (its own environment: it pins numpy<2)")


def _detect_deepsparse() -> str | None:
    py = deepsparse_python()
    if py is None:
        return f"not installed: {_DEEPSPARSE_PIP}"
    if not Path(py).exists():
        return f"not installed: {DEEPSPARSE_PYTHON_ENV}={py} does not exist ({_DEEPSPARSE_PIP})"
    return None


class _WorkerRunner(Runner):
    """DeepSparse in a subprocess: inputs go through ``.npz`` files; the worker times ``engine.run`` alone."""

    def __init__(self, python: str, onnx: Path, names: Sequence[str], shapes: Sequence[Sequence[int]],
                 threads: int, workdir: Path) -> None:
        worker = Path(__file__).with_name("_deepsparse_worker.py")
        env = {**os.environ, **TELEMETRY_ENV}
        self.proc = subprocess.Popen([python, str(worker)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env)
        self.names = list(names)
        self.workdir = workdir
        reply = self._ask({"cmd": "load", "onnx": str(onnx), "batch_size": int(shapes[0][0]), "threads": threads,
                           "input_shapes": [list(map(int, s)) for s in shapes]})
        super().__init__(lambda inputs: self.timed(inputs)[0], {"version": reply.get("version"), "precision": "fp32",
                                                                "python": python})

    def _ask(self, req: Mapping[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError) as e:
            raise EngineUnavailable(f"not measured: the DeepSparse worker stopped ({e})") from None
        if not line:
            raise EngineUnavailable("not measured: the DeepSparse worker stopped (is deepsparse installed in "
                                    f"{DEEPSPARSE_PYTHON_ENV}'s environment?)")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise EngineUnavailable(f"not measured: DeepSparse: {reply.get('error')}")
        return reply

    def timed(self, inputs: Inputs) -> tuple[np.ndarray, float]:
        src, dst = self.workdir / "ds_in.npz", self.workdir / "ds_out.npy"
        np.savez(src, **{n: inputs[n] for n in self.names})
        reply = self._ask({"cmd": "run", "inputs": str(src), "names": self.names, "output": str(dst)})
        return np.load(dst).astype(np.float32).reshape(-1), float(reply["ms"])

    def __call__(self, inputs: Inputs) -> np.ndarray:
        return self.timed(inputs)[0]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.close()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()


def _prepare_deepsparse(ctx: PrepareContext) -> Runner:
    py = deepsparse_python()
    assert py is not None
    example = ctx.calibration[0]
    names = list(example)
    return _WorkerRunner(py, ctx.onnx(), names, [example[n].shape for n in names], ctx.threads, ctx.workdir)


for _e in (
    Engine("torch", "torch fp32, dense kernels (reference)", "pip install torch", "BSD-3-Clause", _prepare_torch),
    Engine("torch-csr", "torch fp32, nn.Linear weights as sparse CSR", "pip install torch", "BSD-3-Clause",
           _prepare_torch_csr),
    Engine("onnxruntime", "ONNX Runtime CPU EP, fp32", "pip install onnxruntime onnx", "MIT", _prepare_ort,
           modules=("onnxruntime", "onnx")),
    Engine("onnxruntime-int8", "ONNX Runtime CPU EP, dynamic int8 quantisation", "pip install onnxruntime onnx",
           "MIT", _prepare_ort_int8, modules=("onnxruntime", "onnx")),
    Engine("openvino", "OpenVINO CPU plugin, fp32", "pip install openvino onnx", "Apache-2.0", _prepare_ov,
           modules=("openvino", "onnx")),
    Engine("openvino-bf16", "OpenVINO CPU plugin, bf16 inference precision", "pip install openvino onnx",
           "Apache-2.0", _prepare_ov_bf16, modules=("openvino", "onnx")),
    Engine("openvino-int8", "OpenVINO CPU plugin, NNCF int8 post-training quantisation",
           "pip install openvino nncf onnx", "Apache-2.0", _prepare_ov_int8, modules=("openvino", "nncf", "onnx")),
    Engine("deepsparse", "Neural Magic DeepSparse (sparse CPU kernels), fp32", _DEEPSPARSE_PIP,
           "Neural Magic DeepSparse Community License (evaluation only; end-of-life June 2025)", _prepare_deepsparse,
           detect=_detect_deepsparse, static_shapes=True),
):
    ENGINES.add(_e.name, _e)


def available_engines() -> dict[str, str | None]:
    """Every registered engine -> ``None`` (can be tried here) or its "not installed: ..." note."""
    return {name: ENGINES.get(name).missing() for name in ENGINES.names()}


def installed_engines() -> list[str]:
    return [n for n, note in available_engines().items() if note is None]


@dataclasses.dataclass(frozen=True)
class EngineRecord:
    """One engine's result in a cell: ``status`` is ``measured``, ``not installed`` or ``not measured``;
    ``note`` says why for the last two.  Times in ms per call (one query's candidates)."""

    engine: str
    status: str
    note: str | None = None
    median_ms: float | None = None
    p90_ms: float | None = None
    mean_ms: float | None = None
    n: int = 0
    speedup_vs_torch: float | None = None
    max_abs_diff: float | None = None
    top10_same_order: float | None = None
    reference_score_std: float | None = None
    prepare_s: float | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _numpy_batches(batches: Sequence[Mapping[str, Any]]) -> list[Inputs]:
    return [{k: v.detach().to("cpu").numpy() for k, v in tensor_inputs(b).items()} for b in batches]


def pad_static(batches: Sequence[Inputs], pad_value: int = 0) -> tuple[list[Inputs], list[int]]:
    """Pad every batch to the largest batch's rows (repeating its last row) and every later dimension to the
    largest size seen (``pad_value``, the padding id / an attention-mask 0), for engines compiled for one shape.
    Returns the padded batches and each batch's real row count (outputs beyond it are dropped)."""
    names = list(batches[0])
    top = {n: [max(b[n].shape[i] for b in batches) for i in range(b0.ndim)] for n, b0 in batches[0].items()}
    rows = [int(b[names[0]].shape[0]) for b in batches]
    out = []
    for b in batches:
        padded = {}
        for n in names:
            a = b[n]
            if a.shape[0] < top[n][0]:
                a = np.concatenate([a, np.repeat(a[-1:], top[n][0] - a.shape[0], axis=0)])
            widths = [(0, 0)] + [(0, top[n][i] - a.shape[i]) for i in range(1, a.ndim)]
            padded[n] = np.pad(a, widths, constant_values=pad_value) if any(w for _, w in widths) else a
        out.append(padded)
    return out, rows


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"


def measure_engines(model: nn.Module, batches: Sequence[Mapping[str, Any]], engines: Sequence[str], *,
                    warmup: int = 1, repeats: int = 3, threads: int = 1,
                    calibration: Sequence[Mapping[str, Any]] | None = None,
                    workdir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Time ``model`` on each of ``engines`` over ``batches`` (collated, one query's candidates each) and check
    its scores against torch fp32; returns ``engine -> EngineRecord.to_dict()`` in the order given.

    ``calibration``: batches for engines that calibrate (int8); default the first timed batch.  Never raises for
    an engine's failure: the engine's record says "not installed" / "not measured" and the others go on.
    Unknown engine names raise ``RegistryError`` (the config validates them first).
    """
    from .latency import folded_copy

    specs = [ENGINES.get(n) for n in engines]
    if not batches:
        raise ValueError("measure_engines: no batches to time")
    base = folded_copy(model).to("cpu").float().eval()
    inputs = _numpy_batches(batches)
    calib = _numpy_batches(calibration) if calibration else inputs[:1]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    records: dict[str, EngineRecord] = {}
    runners: dict[str, tuple[Runner, list[Inputs], list[int]]] = {}
    try:
        with torch.inference_mode():
            reference = [base(_to_torch(x)).float().numpy().reshape(-1) for x in inputs]
        with tempfile.TemporaryDirectory(prefix="irprune-engines-", dir=workdir) as tmp:
            ctx = PrepareContext(model=base, example=batches[0], calibration=calib, threads=threads, workdir=Path(tmp))
            for spec in specs:
                note = spec.missing()
                if note is not None:
                    records[spec.name] = EngineRecord(spec.name, note.split(":")[0], note)
                    continue
                t0 = time.perf_counter()
                try:
                    own = inputs
                    rows = [int(next(iter(x.values())).shape[0]) for x in inputs]
                    if spec.static_shapes:
                        own, rows = pad_static(inputs)
                        ctx.calibration = own[:1]
                    runner = spec.prepare(ctx)
                    ctx.calibration = calib
                    scores = [runner(x)[:r] for x, r in zip(own, rows)]
                    agree = agreement(reference, scores)
                except EngineUnavailable as e:
                    ctx.calibration = calib
                    records[spec.name] = EngineRecord(spec.name, "not measured", str(e))
                    continue
                except Exception as e:  # noqa: BLE001 - an engine that fails is recorded, the cell goes on
                    ctx.calibration = calib
                    records[spec.name] = EngineRecord(spec.name, "not measured", f"not measured: {_short(e)}")
                    continue
                runners[spec.name] = (runner, own, rows)
                records[spec.name] = EngineRecord(spec.name, "measured", None, prepare_s=time.perf_counter() - t0,
                                                  max_abs_diff=agree["max_abs_diff"],
                                                  top10_same_order=agree["top10_same_order"],
                                                  reference_score_std=agree["reference_score_std"],
                                                  info={**runner.info, "threads": threads})
            if ctx.export is not None:
                for name in runners:
                    if name not in ("torch", "torch-csr"):
                        records[name] = dataclasses.replace(records[name], info={**records[name].info,
                                                                                 **ctx.export.to_dict()})
            times = _interleaved(runners, warmup, repeats, records)
            for r in runners.values():
                r[0].close()
    finally:
        torch.set_num_threads(before)
    ref_ms = float(np.median(times["torch"])) if times.get("torch") else None
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        rec = records[spec.name]
        if rec.status == "measured" and times.get(spec.name):
            arr = np.asarray(times[spec.name])
            med = float(np.median(arr))
            rec = dataclasses.replace(rec, median_ms=med, p90_ms=float(np.percentile(arr, 90)),
                                      mean_ms=float(arr.mean()), n=int(arr.size),
                                      speedup_vs_torch=None if ref_ms is None else ref_ms / med)
        out[spec.name] = rec.to_dict()
    return out


def _interleaved(runners: Mapping[str, tuple[Runner, list[Inputs], list[int]]], warmup: int, repeats: int,
                 records: dict[str, EngineRecord]) -> dict[str, list[float]]:
    """Warm-up calls per engine, then ``repeats`` rounds in which each engine scores every batch in turn."""
    times: dict[str, list[float]] = {n: [] for n in runners}
    live = dict(runners)
    for name, (runner, own, _) in list(live.items()):
        try:
            for i in range(warmup):
                runner(own[i % len(own)])
        except Exception as e:  # noqa: BLE001
            records[name] = dataclasses.replace(records[name], status="not measured",
                                                note=f"not measured: failed while warming up ({_short(e)})")
            live.pop(name)
    for _ in range(repeats):
        for name, (runner, own, _) in list(live.items()):
            try:
                for x in own:
                    times[name].append(runner.timed(x)[1])
            except Exception as e:  # noqa: BLE001
                records[name] = dataclasses.replace(records[name], status="not measured",
                                                    note=f"not measured: failed while timed ({_short(e)})")
                live.pop(name)
                times[name] = []
    return times


def flat_columns(records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``latency_<engine>_median_ms`` and ``speedup_<engine>`` (engine names with ``-`` as ``_``) of the measured
    engines, for a flat cost row."""
    out: dict[str, Any] = {}
    for name, rec in records.items():
        key = name.replace("-", "_")
        out[f"latency_{key}_median_ms"] = rec.get("median_ms")
        out[f"speedup_{key}"] = rec.get("speedup_vs_torch")
    return out


__all__ = ["ENGINES", "DEEPSPARSE_PYTHON_ENV", "Engine", "EngineRecord", "EngineUnavailable", "PrepareContext",
           "Runner", "TELEMETRY_ENV", "available_engines", "deepsparse_python", "flat_columns", "import_quietly",
           "installed_engines", "measure_engines", "pad_static"]
