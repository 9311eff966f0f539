"""Build ``report/paper.pdf`` with latexmk: ``python -m irprune.report.paper [report/paper.tex]``.

latexmk (Collins & others, CTAN) reruns pdfLaTeX and BibTeX until references settle.  A missing toolchain is a
:class:`LatexMissing` error that says what to install; a LaTeX error is a :class:`LatexError` quoting the
``file:line: message`` lines of the log.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import IRPruneError
from .config import PAPER_TEX

INSTALL_HINT = ("install a TeX toolchain: on Debian/Ubuntu `apt-get install --no-install-recommends latexmk "
                "texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended texlive-science lmodern`; "
                "on macOS `brew install --cask mactex-no-gui`")


class LatexMissing(IRPruneError, RuntimeError):
    """latexmk or pdflatex is not installed."""


class LatexError(IRPruneError, RuntimeError):
    """LaTeX stopped with an error; the message quotes the log."""


def toolchain() -> dict[str, str | None]:
    return {tool: shutil.which(tool) for tool in ("latexmk", "pdflatex", "bibtex")}


def build_pdf(tex: str | Path = PAPER_TEX, timeout_s: float = 300.0, quiet: bool = True) -> Path:
    """Compile ``tex`` to a PDF beside it with ``latexmk -pdf``; returns the PDF's path."""
    tex = Path(tex)
    if not tex.is_file():
        raise FileNotFoundError(f"{tex} not found; run from the project root")
    missing = [t for t, p in toolchain().items() if p is None]
    if missing:
        raise LatexMissing(f"cannot build {tex.with_suffix('.pdf')}: {', '.join(missing)} not found; "
                           + INSTALL_HINT)
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    if quiet:
        cmd.append("-silent")
    cmd.append(tex.name)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=tex.parent, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LatexError(f"latexmk on {tex} ran over {timeout_s:.0f}s (see {tex.with_suffix('.log')})") from None
    pdf = tex.with_suffix(".pdf")
    if proc.returncode != 0 or not pdf.is_file():
        log = tex.with_suffix(".log")
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else proc.stdout + proc.stderr
        errors = [l for l in text.splitlines() if re.match(r"^(\./|/)?[^:\s]+\.(tex|sty|cls|bbl):\d+:", l)
                  or l.startswith("! ")]
        raise LatexError(f"latexmk failed on {tex} (exit {proc.returncode}):\n" + "\n".join(errors[:10] or
                         text.splitlines()[-20:]) + f"\n(full log: {log})")
    print(f"paper: {pdf} built in {time.perf_counter() - t0:.1f}s")
    return pdf


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        build_pdf(args[0] if args else PAPER_TEX)
    except (LatexMissing, LatexError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
