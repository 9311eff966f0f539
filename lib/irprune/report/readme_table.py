"""Write the README's real-text table from finished runs:
``python -m irprune.report.readme_table RUN [RUN ...] [--readme README.md] [--params params.yaml]``.

Each ``RUN`` is the project folder of a finished run on a real collection (``data/card.json``,
``runs/bm25/per_query.json``, ``runs/<model>-s<seed>/per_query.json``).  Runs of one collection are pooled as
:func:`irprune.report.realtext.pool` does (its k fold runs, or one run), one row per collection: the judged
queries scored, BM25's nDCG@10, and each neural ranker's nDCG@10 with the paired test's p against BM25 (the
``significance`` section of ``--params``).  The table replaces what stands between the README's
``<!-- realtext:begin -->`` and ``<!-- realtext:end -->`` lines; nothing else of the file changes (the command
says when the file then exceeds the README's byte budget).  A row of a collection not among the runs is kept as it
stands when its table has the same columns, so re-running one overlay updates its row alone.  The zero-shot dense
retrieval of a hybrid first stage is left to the paper's table: the columns are the trained rankers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..config import ConfigError
from ..errors import IRPruneError
from ..io import atomic_write_text
from ..significance import SignificanceConfig
from . import palette, realtext
from .tables import TEST_NAMES, fmt

BEGIN, END = "<!-- realtext:begin -->", "<!-- realtext:end -->"
README_LIMIT = 15_000      # the project keeps README.md under this many bytes


def table(roots: Sequence[str | Path], sig: SignificanceConfig, keep: str = "") -> str:
    """The Markdown table of the runs in ``roots``: one row per collection (in first-given order), BM25's nDCG@10
    and each trained ranker's with the paired test's p against BM25 (— where a ranker was not trained).  The rows
    of other collections in ``keep`` (the block the table replaces) stay, in their place, if its columns match."""
    groups: dict[str, list[realtext.RunResults]] = {}
    for root in roots:
        run = realtext.load_run(root)
        if run.card.get("source", "synthetic") == "synthetic":
            raise ConfigError(f"{root}: a run on the synthetic default collection has no real-text row; give runs "
                              "of real collections (an overlay of configs/)")
        groups.setdefault(run.collection, []).append(run)
    pooled = {name: realtext.pool(runs) for name, runs in groups.items()}
    rows = {name: {r.model: r for r in realtext.rows(p, sig)} for name, p in pooled.items()}
    models = palette.model_order({m for rs in rows.values() for m in rs if m not in ("bm25", realtext.ZERO_SHOT)})
    test = TEST_NAMES.get(sig.test, sig.test)
    header = "| collection | queries | split | BM25 | " + " | ".join(palette.model_label(m) for m in models) + " |"
    lines = [f"Test nDCG@10; in brackets p of a {test} against BM25 on the same queries.", "",
             header, "|---|---:|---|---:|" + "---:|" * len(models)]
    new: dict[str, str] = {}
    for name, p in pooled.items():
        plan = p.plan.get("method", "source")
        split = f"{p.plan['k']} folds pooled" if plan == "folds" else str(plan)
        cells = [f"{fmt(r.means['ndcg@10'])} ({realtext.p_text(r.p['ndcg@10'])})" if (r := rows[name].get(m))
                 else "—" for m in models]
        new[name] = (f"| {name} | {len(p.bm25['ndcg@10']):,} | {split} | {fmt(rows[name]['bm25'].means['ndcg@10'])} | "
                     + " | ".join(cells) + " |")
    old = _old_rows(keep)
    others = [c for c in old if c not in new]
    if others and keep.splitlines().count(header) != 1:
        raise ConfigError(f"the README's rows of {', '.join(others)} have other columns than the new table "
                          f"({header}); give those collections' runs too")
    for name, line in old.items():
        lines.append(new.pop(name, line))
    lines.extend(new.values())
    return "\n".join(lines) + "\n"


def _old_rows(block: str) -> dict[str, str]:
    """Collection -> table line of a previous block (its header and rule lines left out)."""
    out: dict[str, str] = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] != "collection" and not set(cells[0]) <= set("-:"):
            out[cells[0]] = line
    return out


def current_block(text: str) -> str:
    """What stands between the markers of ``text`` ('' without them)."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        return ""
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def replace_block(text: str, block: str, path: str = "README.md") -> str:
    """``text`` with the lines between the markers replaced by ``block``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ConfigError(f"{path} must hold one {BEGIN} line followed by one {END} line; add them where the "
                          "table belongs")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m irprune.report.readme_table", description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="project folders of finished runs on real collections")
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--params", default="params.yaml", help="its `significance` section chooses the test")
    args = ap.parse_args(argv)
    try:
        sig = realtext.significance_of(args.params)
        readme = Path(args.readme)
        before = readme.read_text(encoding="utf-8")
        block = table(args.runs, sig, keep=current_block(before)) + (
            "\n_Generated by `python -m irprune.report.readme_table`, a row per collection from its runs; do not "
            "edit by hand._\n")
        text = replace_block(before, block, str(readme))
        atomic_write_text(readme, text)
    except (IRPruneError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = len(text.encode("utf-8"))
    print(f"{args.readme}: real-text rows from {len(args.runs)} run(s); {size:,} bytes"
          + (f" (over the README's {README_LIMIT:,}-byte budget: shorten it)" if size > README_LIMIT else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
