"""One-time set-up after installing (``make setup`` runs it): project Jupyter kernel, numba warm-up, DVC config.

Idempotent.  Run as ``python -m irprune.setup_env``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .notebook import KERNEL_NAME, project_env


def main() -> int:
    root = Path.cwd()
    project_env(root)
    # A kernel of this virtual environment, so papermill and JupyterLab run notebooks with the project's Python.
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
                    "--display-name", "Python (irprune)"], check=True, stdout=subprocess.DEVNULL)
    # DVC: no analytics, no update checks (also in .dvc/config; repeated here for clones with an old config).
    if (root / ".dvc").is_dir():
        for key in ("core.analytics", "core.check_update"):
            subprocess.run([sys.executable, "-m", "dvc", "config", key, "false"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Inference engines: report which are usable (irprune.costs.engines imports them with telemetry off).
    from .costs.engines import available_engines

    for name, note in available_engines().items():
        print(f"engine {name}: {'ok' if note is None else note}")
    # ranx compiles its metrics with numba on first use (~45 s); compile once into the project cache.
    from .evaluation import warm_up

    warm_up()
    print("irprune environment ready")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
