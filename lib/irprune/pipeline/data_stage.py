"""Data stage: load or generate the dataset, write the canonical store, the card and the skip report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import paths
from ..data.load import load_dataset
from ..data.store import dataset_card, write_dataset
from ..io import atomic_write_json


def run(cfg: Any, out_dir: Path = paths.DATASET, card_path: Path = paths.DATASET_CARD,
        skip_path: Path = paths.SKIP_REPORT) -> dict:
    """Build the dataset of ``cfg.data`` into ``out_dir``; returns the dataset card."""
    ds, skips = load_dataset(cfg.data)
    write_dataset(ds, out_dir)
    card = dataset_card(ds)
    card["source"] = cfg.data.source
    card["skipped_lines"] = skips.total
    if skips.total:
        card["skipped_first"] = {r: ex[0] for r, ex in skips.examples.items() if ex}
    pq = ds.meta.get("splits", {}).get("pseudo_queries")   # type: ignore[union-attr]
    if pq:
        card["pseudo_queries"] = {k: v for k, v in pq.items() if k != "passed_over"}
    if ds.meta.get("read_notes"):
        card["read_notes"] = ds.meta["read_notes"]
    atomic_write_json(skip_path, skips.as_dict())
    atomic_write_json(card_path, card)
    if skips.total:
        print(f"note: {skips.total} input item(s) skipped or dropped, counted by reason in {skip_path}: "
              + ", ".join(f"{reason}: {n} (first: {skips.examples[reason][0]})" if skips.examples.get(reason)
                          else f"{reason}: {n}" for reason, n in sorted(skips.counts.items())))
    return card


def card_tables(card: dict) -> "Any":
    """The card as tables for the notebook: one row per split."""
    import pandas as pd

    splits = card.get("splits", {})
    rows = []
    for name, s in splits.items():
        row = {"split": name}
        for k, v in s.items():
            if isinstance(v, dict):
                for k2, v2 in v.items():
                    if not isinstance(v2, (dict, list)):
                        row[f"{k}.{k2}"] = v2
            elif not isinstance(v, list):
                row[k] = v
        rows.append(row)
    return pd.DataFrame(rows).set_index("split").T if rows else pd.DataFrame()
