"""Data stage: load or generate the dataset, write the canonical store, the card and the skip report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import paths
from ..data.config import LOCAL_SOURCES
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
    card["collection"] = collection_name(cfg.data)
    card["split_plan"] = split_plan(ds.meta.get("splits", {}))   # type: ignore[arg-type]
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


def collection_name(data: Any) -> str:
    """A collection's name for tables: a local folder's path below the nearest folder named ``data``
    (``cranfield``, ``msmarco-passage-dl19-subset/derived-native-5000`` under ``../shared/data``), else its own
    name; for other sources the source (``synthetic``) or its ``ir_datasets``/hub id."""
    if data.source in LOCAL_SOURCES:
        parts = Path(data.local.path).parts
        below = parts[len(parts) - parts[::-1].index("data"):] if "data" in parts else parts[-1:]
        return "/".join(below) or data.source
    return {"ir_datasets": data.ir_datasets.test, "hf": data.hf.corpus}.get(data.source, data.source)


def split_plan(info: dict) -> dict:
    """How dev and test were formed, for the card: the method and, for folds, k, the fold, the seed and the test
    query ids (the report checks that a collection's fold runs partition its judged queries)."""
    method = info.get("method") or ("dev_from_test" if "dev_queries" in info else "source")
    out = {"method": method, **{k: info[k] for k in ("k", "fold", "seed", "test_queries") if k in info}}
    if "dev_queries" in info:
        out["dev_queries"] = len(info["dev_queries"])
    return out


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
