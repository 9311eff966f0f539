"""k-fold cross-validation over the judged queries (``data.splits.method: folds``): the folds partition the judged
queries, no query is in train/dev and test of one fold, only dev and test change between folds, and bad plans stop
with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from irprune.config import from_mapping
from irprune.data.config import DataConfig
from irprune.data.load import assign_folds, load_dataset
from irprune.errors import ConfigError

N_QUERIES, K = 23, 5


@pytest.fixture()
def collection(tmp_path: Path) -> Path:
    """A tiny MS MARCO-layout collection: 40 passages, 23 judged and 2 unjudged test queries, 6 train queries."""
    words = [f"w{i}" for i in range(60)]
    (tmp_path / "collection.tsv").write_text(
        "".join(f"{d}\t{' '.join(words[(d * 7 + j) % 60] for j in range(12))}\n" for d in range(40)))
    (tmp_path / "queries.tsv").write_text(
        "".join(f"{100 + q}\t{words[q % 60]} {words[(q * 3) % 60]}\n" for q in range(N_QUERIES + 2)))
    (tmp_path / "qrels.tsv").write_text("".join(f"{100 + q} 0 {q % 40} {1 + q % 3}\n" for q in range(N_QUERIES)))
    (tmp_path / "train.tsv").write_text("".join(f"t{q}\t{words[q]} {words[q + 1]}\n" for q in range(6)))
    (tmp_path / "train_qrels.tsv").write_text("".join(f"t{q} 0 {q} 1\n" for q in range(6)))
    return tmp_path


def config(path: Path, **splits: object) -> DataConfig:
    return from_mapping(DataConfig, {
        "source": "msmarco",
        "local": {"path": str(path), "test": {"queries": "queries.tsv", "qrels": "qrels.tsv"},
                  "train": {"queries": "train.tsv", "qrels": "train_qrels.tsv"}},
        "splits": {"method": "folds", "k": K, **splits}}, prefix="data")


def test_assign_folds_is_balanced_and_seeded() -> None:
    qids = [str(i) for i in range(N_QUERIES)]
    folds = assign_folds(qids, K, seed=0)
    sizes = sorted(list(folds.values()).count(f) for f in range(K))
    assert set(folds) == set(qids) and sizes[-1] - sizes[0] <= 1 and sum(sizes) == N_QUERIES
    assert folds == assign_folds(reversed(qids), K, seed=0)          # input order does not matter
    assert folds != assign_folds(qids, K, seed=1)


def test_folds_partition_the_judged_queries(collection: Path) -> None:
    judged = {str(100 + q) for q in range(N_QUERIES)}
    tests: list[set[str]] = []
    trains = []
    for fold in range(K):
        ds, skipped = load_dataset(config(collection, fold=fold))
        dev, test, train = (set(ds.splits[s].queries) for s in ("dev", "test", "train"))
        assert skipped.counts == {"query without judgements (dropped)": 2}
        assert not dev & test and not train & test and not train & dev     # no query in two splits of a fold
        assert dev | test == judged                                          # dev = every other fold
        assert set(ds.splits["test"].qrels) == test and set(ds.splits["dev"].qrels) == dev
        info = ds.meta["splits"]
        assert (info["method"], info["k"], info["fold"]) == ("folds", K, fold)
        assert sorted(test) == info["test_queries"]
        tests.append(test)
        trains.append((ds.splits["train"].queries, ds.splits["train"].qrels))
    assert set().union(*tests) == judged and sum(map(len, tests)) == len(judged)   # each query test exactly once
    assert all(t == trains[0] for t in trains)            # the folds differ only in dev and test
    assert max(map(len, tests)) - min(map(len, tests)) <= 1


def test_fold_out_of_range_names_the_key(collection: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.splits.fold = 5 .* data.splits.k = 5; a fold is one of 0 .. 4"):
        config(collection, fold=5)
    with pytest.raises(ConfigError, match=r"set data.splits.dev_from_test: 0"):
        config(collection, dev_from_test=0.2)
    with pytest.raises(ConfigError, match=r"data.splits.k = 30 folds of 23 judged test queries .* lower k"):
        load_dataset(config(collection, k=30))
    with pytest.raises(ConfigError, match=r"data.splits.method = 'x' is not allowed; expected one of "
                                          r"'dev_from_test', 'folds'"):
        from_mapping(DataConfig, {"splits": {"method": "x"}}, prefix="data")


def test_the_data_stage_card_records_the_fold(collection: Path, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from irprune.pipeline import data_stage

    card = data_stage.run(SimpleNamespace(data=config(collection, fold=2)), out_dir=tmp_path / "ds",
                          card_path=tmp_path / "card.json", skip_path=tmp_path / "skipped.json")
    plan = card["split_plan"]
    assert (plan["method"], plan["k"], plan["fold"], plan["seed"]) == ("folds", K, 2, 0)
    stored = [line.split("\t")[0] for line in (tmp_path / "ds" / "queries.test.tsv").read_text().splitlines()]
    assert plan["test_queries"] == sorted(stored) and plan["dev_queries"] == N_QUERIES - len(stored)
    assert card["collection"] == collection.name


def test_collection_names_follow_the_folder() -> None:
    from irprune.pipeline.data_stage import collection_name

    def name(source: str, path: str) -> str:
        return collection_name(from_mapping(DataConfig, {"source": source, "local": {"path": path}}, prefix="data"))

    assert name("cranfield", "../shared/data/cranfield") == "cranfield"
    assert name("beir", "../shared/data/msmarco-passage-dl19-subset/derived-native-5000") == \
        "msmarco-passage-dl19-subset/derived-native-5000"
    assert name("beir", "collections/mine") == "mine"
    assert name("synthetic", "collections") == "synthetic"
