"""A DeepSparse engine in its own process (and, usually, its own Python environment).

DeepSparse 1.8.0 (the last wheel for Python 3.11) pins ``numpy < 2``, which the study's environment cannot take,
so :mod:`irprune.costs.engines` runs this file with the Python of a separate environment
(``IRPRUNE_DEEPSPARSE_PYTHON``).  It imports nothing from the project: only ``numpy`` and ``deepsparse``.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.

* ``{"cmd": "load", "onnx": path, "batch_size": B, "threads": n, "input_shapes": [[B, T], ...]}``
  -> ``{"ok": true, "version": ...}`` (DeepSparse compiles for static shapes);
* ``{"cmd": "run", "inputs": path.npz, "names": [...], "output": path.npy}`` -> ``{"ok": true, "ms": t}``: the
  time of ``engine.run`` alone (file reading and writing excluded), the scores saved to ``output``;
* ``{"cmd": "quit"}``.

Errors are replies (``{"ok": false, "error": ...}``), never a crash.
"""

import json
import os
import sys
import time

os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")   # DeepSparse's usage analytics off before it is imported


def main() -> int:
    import numpy as np

    engine = None
    for line in sys.stdin:
        try:
            req = json.loads(line)
            cmd = req.get("cmd")
            if cmd == "quit":
                break
            if cmd == "load":
                import deepsparse

                engine = deepsparse.compile_model(req["onnx"], batch_size=int(req["batch_size"]),
                                                  num_cores=int(req["threads"]), input_shapes=req["input_shapes"])
                reply = {"ok": True, "version": deepsparse.__version__}
            elif cmd == "run":
                if engine is None:
                    raise RuntimeError("run before load")
                data = np.load(req["inputs"])
                arrays = [np.ascontiguousarray(data[n]) for n in req["names"]]
                t0 = time.perf_counter()
                out = engine.run(arrays)
                ms = (time.perf_counter() - t0) * 1000.0
                np.save(req["output"], np.asarray(out[0], dtype=np.float32))
                reply = {"ok": True, "ms": ms}
            else:
                raise ValueError(f"unknown command {cmd!r}")
        except Exception as e:  # noqa: BLE001 - every failure goes back as a reply
            reply = {"ok": False, "error": f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
