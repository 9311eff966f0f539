"""DataConfig validation and load_dataset end to end on the real collections (train/dev/test always)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from irprune.config import from_mapping
from irprune.data import load as load_mod
from irprune.data import synthetic
from irprune.data.config import DataConfig
from irprune.data.load import SOURCES, load_dataset
from irprune.data.store import read_dataset, write_dataset
from irprune.data.types import RetrievalDataset, Split
from irprune.errors import ConfigError, DataFormatError, RegistryError

DL19 = "msmarco-passage-dl19-subset"


def dl19_cfg(shared: Path, **extra: Any) -> DataConfig:
    data: dict[str, Any] = {
        "source": "msmarco",
        "local": {"path": str(shared / DL19 / "derived-native-5000"),
                  "test": {"queries": "queries.tsv", "qrels": "qrels.tsv"}},
        "splits": {"dev_from_test": 0.2, "seed": 5},
        "pseudo_queries": {"enabled": True, "n_queries": 300},
    }
    data.update(extra)
    return from_mapping(DataConfig, data)


@pytest.mark.shared_data
def test_end_to_end_dl19_with_pseudo_queries(shared_data: Path, tmp_path: Path) -> None:
    ds, report = load_dataset(dl19_cfg(shared_data, mojibake="repair"))
    assert set(ds.splits) == {"train", "dev", "test"}
    dev, test, train = ds.splits["dev"], ds.splits["test"], ds.splits["train"]
    assert len(dev.queries) == round(0.2 * 43) == 9 and len(test.queries) == 34
    assert not set(dev.queries) & set(test.queries)
    assert all(dev.qrels[q] and q in dev.queries for q in dev.qrels)
    assert sum(len(s.qrels[q]) for s in (dev, test) for q in s.qrels) == 4102
    assert len(train.queries) == 300 and all(q.startswith("pq-") for q in train.queries)
    assert report.counts == {"query without judgements (dropped)": 7}
    assert ds.meta["source"] == "msmarco" and ds.meta["mojibake"] == {"mode": "repair", "docs": 1117, "queries": 0}
    assert ds.meta["splits"]["pseudo_queries"]["made"] == 300
    assert ds.meta["config"]["local"]["test"]["qrels"] == "qrels.tsv"
    again, _ = load_dataset(dl19_cfg(shared_data, mojibake="repair"))
    assert again.splits["dev"].queries == dev.queries and again.splits["train"].queries == train.queries
    back = read_dataset(write_dataset(ds, tmp_path / "store"))
    assert back.corpus == ds.corpus and back.meta == ds.meta
    assert all(back.splits[s].qrels == ds.splits[s].qrels for s in ds.splits)


@pytest.mark.shared_data
def test_other_local_sources(shared_data: Path) -> None:
    common = {"splits": {"dev_from_test": 0.25}, "pseudo_queries": {"enabled": True, "n_queries": 100}}
    beir_local = {"path": str(shared_data / DL19 / "beir-format")}
    beir_ds, _ = load_dataset(from_mapping(DataConfig, {"source": "beir", **common, "local": beir_local}))
    assert len(beir_ds.corpus) == 5000
    assert len(beir_ds.splits["dev"].queries) + len(beir_ds.splits["test"].queries) == 43
    cran, _ = load_dataset(from_mapping(DataConfig, {
        "source": "cranfield", **common, "local": {"path": str(shared_data / "cranfield")},
        "pseudo_queries": {"enabled": True, "n_queries": 100, "strategy": "title"}}))
    assert len(cran.corpus) == 1400 and len(cran.splits["dev"].queries) == round(0.25 * 225)
    npl, _ = load_dataset(from_mapping(DataConfig, {"source": "trec", **common, "local": {
        "path": str(shared_data / "npl-vaswani"), "collection": "corpus/doc-text.trec",
        "test": {"queries": "query-text.trec", "qrels": "qrels"}}}))
    assert len(npl.corpus) == 11429 and len(npl.splits["test"].queries) == 93 - round(0.25 * 93)


@pytest.mark.shared_data
def test_unjudged_queries_as_errors(shared_data: Path) -> None:
    with pytest.raises(DataFormatError, match=r"queries.tsv: query without judgements: query '789774'"):
        load_dataset(dl19_cfg(shared_data, splits={"dev_from_test": 0.2, "unjudged_queries": "error"}))
    ds, report = load_dataset(dl19_cfg(shared_data, on_error="skip",
                                       splits={"dev_from_test": 0.2, "unjudged_queries": "error"}))
    assert report.counts == {"query without judgements": 7}


@pytest.mark.shared_data
def test_config_errors(shared_data: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.source = 'msmarco' needs data.local.path"):
        from_mapping(DataConfig, {"source": "msmarco"})
    with pytest.raises(ConfigError, match=r"data.source = 'msmarco' needs data.local.test.queries"):
        from_mapping(DataConfig, {"source": "msmarco", "local": {"path": "x"}})
    with pytest.raises(ConfigError, match="data.source = 'trec' needs data.local.collection"):
        from_mapping(DataConfig, {"source": "trec", "local": {"path": "x"}})
    with pytest.raises(ConfigError, match="needs data.ir_datasets.test"):
        from_mapping(DataConfig, {"source": "ir_datasets"})
    with pytest.raises(ConfigError, match="needs data.hf.corpus"):
        from_mapping(DataConfig, {"source": "hf"})
    with pytest.raises(ConfigError, match=r"source = 'nope' is not allowed; expected one of 'synthetic'"):
        from_mapping(DataConfig, {"source": "nope"})
    with pytest.raises(ConfigError, match="data.local.train gives qrels/candidates but no queries"):
        from_mapping(DataConfig, {"source": "msmarco", "local": {"path": "x", "train": {"qrels": "q"},
                                                                  "test": {"queries": "a", "qrels": "b"}}})
    with pytest.raises(ConfigError, match="unknown key"):
        from_mapping(DataConfig, {"mojibake": "keep", "colection": "x"})
    with pytest.raises(RegistryError, match="known data sources: beir, cranfield, hf, ir_datasets, msmarco"):
        SOURCES.get("nope")
    with pytest.raises(ConfigError, match=r"no dev split; set data.splits.dev_from_test"):
        load_dataset(dl19_cfg(shared_data, splits={}))
    with pytest.raises(ConfigError, match="no train queries; set data.pseudo_queries.enabled"):
        load_dataset(dl19_cfg(shared_data, pseudo_queries={}))
    with pytest.raises(DataFormatError, match=r"missing.tsv: .* expected here, but the path does not exist"):
        load_dataset(dl19_cfg(shared_data, local={"path": str(shared_data / DL19 / "derived-native-5000"),
                                                  "test": {"queries": "missing.tsv", "qrels": "qrels.tsv"}}))


def test_synthetic_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake(cfg: Any) -> RetrievalDataset:
        seen.append(cfg)
        split = Split(queries={"q": "alpha"}, qrels={"q": {"d": 1}})
        return RetrievalDataset(corpus={"d": "alpha beta"}, splits={"train": split, "dev": split, "test": split})

    monkeypatch.setattr(synthetic, "generate", fake)
    assert load_mod.synthetic.generate is fake
    ds, report = load_dataset(DataConfig())
    assert seen == [DataConfig().synthetic] and set(ds.splits) == {"train", "dev", "test"}
    assert ds.meta["source"] == "synthetic" and report.total == 0
