"""Every local loader on the real collections in ../shared/data; expected counts are those stated in each
folder's SOURCE.md, and qrels are cross-checked against ir_measures' independent TREC qrels reader."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import ir_measures
import pytest

from irprune.data import beir, cranfield, msmarco, trec
from irprune.data.text import apply_mojibake, fix_mojibake
from irprune.data.types import Qrels

pytestmark = pytest.mark.shared_data

DL19 = "msmarco-passage-dl19-subset"
TOPICS = "trec-dl-msmarco-topics-qrels"


def labels(qrels: Qrels) -> dict[int, int]:
    return dict(Counter(r for judged in qrels.values() for r in judged.values()))


def n_judgements(qrels: Qrels) -> int:
    return sum(len(v) for v in qrels.values())


def ir_measures_qrels(path: Path) -> Qrels:
    out: Qrels = {}
    for q in ir_measures.read_trec_qrels(str(path)):
        out.setdefault(q.query_id, {})[q.doc_id] = q.relevance
    return out


def test_msmarco_native_derived(shared_data: Path) -> None:
    d = shared_data / DL19 / "derived-native-5000"
    corpus = msmarco.read_collection(d / "collection.tsv")
    queries = msmarco.read_queries(d / "queries.tsv")
    qrels = msmarco.read_qrels(d / "qrels.tsv", docs=corpus, queries=queries)   # tab-separated 4 columns
    assert (len(corpus), len(queries), len(qrels), n_judgements(qrels)) == (5000, 50, 43, 4102)
    assert labels(qrels) == {1: 1601, 2: 1804, 3: 697}
    unjudged = {"789774", "639552", "1152589", "975580", "620841", "136178", "520630"}
    assert set(queries) - set(qrels) == unjudged


def test_msmarco_native_relevant_only(shared_data: Path) -> None:
    d = shared_data / DL19 / "native-tsv"
    corpus = msmarco.read_collection(d / "collection.tsv")
    queries = msmarco.read_queries(d / "queries.tsv")
    qrels = msmarco.read_qrels(d / "qrels.txt", docs=corpus, queries=queries)   # space-separated TREC
    assert (len(corpus), len(queries), n_judgements(qrels)) == (4103, 43, 4102)
    assert labels(qrels) == {1: 4102} and "0" in corpus
    assert queries == trec.read_topics(shared_data / TOPICS / "topics" / "topics.dl19-passage.txt")


def test_beir_format_equals_native(shared_data: Path) -> None:
    d = shared_data / DL19 / "beir-format"
    titles: dict[str, str] = {}
    corpus = beir.read_corpus(d / "corpus.jsonl", titles=titles)
    queries = beir.read_queries(d / "queries.jsonl")
    qrels = beir.read_split_qrels(d / "qrels" / "test.tsv", docs=corpus, queries=queries)   # 3 columns, no header
    assert (len(corpus), len(queries), len(qrels), n_judgements(qrels)) == (5000, 50, 43, 4102)
    assert titles == {}                       # every title is "" in this file
    native = shared_data / DL19 / "derived-native-5000"
    assert corpus == msmarco.read_collection(native / "collection.tsv")
    assert qrels == msmarco.read_qrels(native / "qrels.tsv")
    assert len(beir.load_split(queries, qrels).queries) == 43


def test_trec_dl_qrels_and_topics(shared_data: Path) -> None:
    d = shared_data / TOPICS
    expected = {"dl19-passage": (43, 9260, {0: 5158, 1: 1601, 2: 1804, 3: 697}),
                "dl20-passage": (54, 11386, {0: 7780, 1: 1940, 2: 1020, 3: 646}),
                "msmarco-passage.dev-subset": (6980, 7437, {1: 7437})}
    for name, (n_q, n_j, labs) in expected.items():
        path = d / "qrels" / f"qrels.{name}.txt"
        qrels = trec.read_qrels(path)
        assert (len(qrels), n_judgements(qrels), labels(qrels)) == (n_q, n_j, labs)
        assert qrels == ir_measures_qrels(path)
    topics = {"dl19-passage": 43, "dl20": 200, "msmarco-passage.dev-subset": 6980,
              "msmarco-passage.test-subset": 6837}
    for name, n in topics.items():
        queries = trec.read_topics(d / "topics" / f"topics.{name}.txt")
        assert len(queries) == n
        assert all(t == t.strip() and t for t in queries.values())   # dev-subset's leading spaces are stripped
    dl20 = trec.read_qrels(d / "qrels" / "qrels.dl20-passage.txt",
                           queries=trec.read_topics(d / "topics" / "topics.dl20.txt"))
    assert len(dl20) == 54


@pytest.mark.parametrize("name,n_lines,n_qids,n_docs", [
    ("scifact", 339, 300, 283), ("nfcorpus", 12334, 323, 3128), ("arguana", 1406, 1406, 1406),
    ("fiqa", 1706, 648, 1706), ("scidocs", 29928, 1000, 25657), ("trec-covid", 66334, 50, 35479)])
def test_beir_gz_topics_and_qrels(shared_data: Path, name: str, n_lines: int, n_qids: int, n_docs: int) -> None:
    d = shared_data / "beir-topics-qrels"
    topics = trec.read_topics(d / "topics" / f"topics.beir-v1.0.0-{name}.test.tsv.gz")
    path = d / "qrels" / f"qrels.beir-v1.0.0-{name}.test.txt"
    qrels = trec.read_qrels(path, queries=topics)
    assert len(topics) == n_qids and len(qrels) == n_qids
    assert n_judgements(qrels) == n_lines
    assert len({doc for judged in qrels.values() for doc in judged}) == n_docs
    assert qrels == ir_measures_qrels(path)


def test_cranfield(shared_data: Path) -> None:
    d = shared_data / "cranfield"
    titles: dict[str, str] = {}
    docs = cranfield.read_documents(d / "cran.all.1400", titles=titles)
    queries = cranfield.read_queries(d / "cran.qry")
    qrels = cranfield.read_qrels(d / "cranqrel", docs=docs, queries=queries)
    assert (len(docs), len(queries), len(qrels), n_judgements(qrels)) == (1400, 225, 225, 1837)
    # SOURCE.md codes 1:128 2:387 3:734 4:363 -1:225, mapped 1->4, 2->3, 3->2, 4->1, -1->0
    assert labels(qrels) == {4: 128, 3: 387, 2: 734, 1: 363, 0: 225}
    assert set(queries) == {str(i) for i in range(1, 226)}
    assert queries["3"].startswith("what problems of heat conduction in composite slabs")   # .I 004, 3rd query
    assert docs["471"] == "" and docs["995"] == ""            # empty documents are kept ...
    assert qrels["125"]["995"] == 2                            # ... and judged (code 3 -> label 2)
    assert titles["1"] == "experimental investigation of the aerodynamics of a wing in a slipstream ."
    assert docs["1"].startswith(titles["1"]) and "\r" not in docs["1"]


def test_npl_vaswani_trec_sgml(shared_data: Path) -> None:
    d = shared_data / "npl-vaswani"
    docs = trec.read_documents(d / "corpus" / "doc-text.trec")
    queries = trec.read_topics(d / "query-text.trec")
    qrels = trec.read_qrels(d / "qrels", docs=docs, queries=queries)
    assert (len(docs), len(queries), len(qrels), n_judgements(qrels)) == (11429, 93, 93, 2083)
    assert queries["1"] == "MEASUREMENT OF DIELECTRIC CONSTANT OF LIQUIDS BY THE USE OF MICROWAVE TECHNIQUES"
    assert qrels == ir_measures_qrels(d / "qrels")
    assert len(trec.read_topics(d / "query_light.trec")) == 20
    # independent check: the words of the file outside tags and DOCNOs are exactly the words of the documents
    raw = (d / "corpus" / "doc-text.trec").read_text(encoding="utf-8")
    words = re.sub(r"<DOCNO>.*?</DOCNO>|<[^>]+>", " ", raw).split()
    assert words == " ".join(docs.values()).split()
    assert list(docs)[:3] == ["1", "2", "3"]


def test_mojibake_keep_and_repair_on_real_passages(shared_data: Path) -> None:
    raw = msmarco.read_collection(shared_data / DL19 / "derived-native-5000" / "collection.tsv")
    clean = msmarco.read_collection(shared_data / DL19 / "native-tsv" / "collection.tsv")   # ir_datasets-fixed
    line = next(t for t in raw.values() if "\u00e2\u0080\u0099" in t)     # "’" read as latin-1
    assert "\u2019" in fix_mojibake(line) and "\u00e2\u0080" not in fix_mojibake(line)
    keep = dict(raw)
    n_keep = apply_mojibake(keep, "keep")
    assert keep == raw                                                    # keep: byte for byte
    repaired = dict(raw)
    n_repair = apply_mojibake(repaired, "repair")
    assert n_keep == n_repair == sum(1 for p in raw if repaired[p] != raw[p])
    assert 1000 < n_repair < 1200                                         # SOURCE.md: about 1,100 of 5,000
    shared = set(raw) & set(clean)
    # SOURCE.md: 906 differ only by encoding; one of them only by leading spaces, which reading strips
    assert sum(raw[p] != clean[p] for p in shared) == 905
    assert all(repaired[p].strip() == clean[p].strip() for p in shared)   # repair reproduces ir_datasets' fix
    # clean text is left alone, except passage 2936513 whose raw text was mis-decoded twice ("Ã\xa0Â¸Â¿"): one
    # repair pass (ours and ir_datasets') leaves "à¸¿", and a second pass would give the Baht sign
    assert [p for p, t in clean.items() if fix_mojibake(t) != t] == ["2936513"]
    assert fix_mojibake(fix_mojibake(raw["2936513"])).endswith("\u0e3f.")
