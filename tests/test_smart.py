"""The SMART reader: every standard field in its place, unknown markers reported and never glued, each qrels
layout, zero-padded ids normalised alike in documents, queries and qrels; the real Cranfield and NPL files."""

from __future__ import annotations

from pathlib import Path

import pytest

from irprune.config import from_mapping
from irprune.data import cranfield, smart, trec
from irprune.data.config import DataConfig
from irprune.data.load import load_dataset
from irprune.data.types import SkipReport
from irprune.errors import ConfigError, DataFormatError

# a CACM-like record with every standard field, a CISI-like one with the title on the marker line, CRLF endings
DOCS = (".I 0001\r\n.T\r\nPreliminary Report on Algebraic Language\r\n.W\r\nAn algebraic language for\r\n"
        "computers is described.\r\n.B\r\nCACM December, 1958\r\n.A\r\nPerlis, A. J.\r\n.N\r\nCA581203 JB March 22\r\n"
        ".X\r\n100\t5\t1\r\n.K\r\ncompiler, syntax\r\n.C\r\n4.22 5.23\r\n"
        ".I 02\n.T Inline title words\n.W\nInline title words and a body that repeats the title.\n")
QUERIES = ".I 001\n.W\nalgebraic language\n.A\nSomeone\n.I 004\n.T\ntitle only query\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_every_field_goes_where_documented(tmp_path: Path) -> None:
    titles: dict[str, str] = {}
    docs = smart.read_documents(write(tmp_path, "docs.all", DOCS), titles=titles)
    assert docs == {
        "1": "Preliminary Report on Algebraic Language An algebraic language for computers is described. "
             "compiler, syntax",                                   # .T + .W + .K; .A .B .N .X .C stay out
        "2": "Inline title words and a body that repeats the title.",  # .W starts with .T: the title is not doubled
    }
    assert titles == {"1": "Preliminary Report on Algebraic Language", "2": "Inline title words"}
    assert set(smart.FIELDS) == set("ITWKABNXC") and smart.DOC_TEXT_FIELDS == ("T", "W", "K")
    queries = smart.read_queries(write(tmp_path, "q.qry", QUERIES))
    assert queries == {"1": "algebraic language", "4": "title only query"}       # padding stripped, .A left out
    assert smart.read_queries(tmp_path / "q.qry", ids="position") == {"1": "algebraic language",
                                                                      "2": "title only query"}


def test_unknown_markers_are_reported_never_glued(tmp_path: Path) -> None:
    path = write(tmp_path, "docs.all", ".I 1\n.T\ntitle\n.E\nsecret words\n.W\nbody text\n.I 2\n.Z\nmore\n.W\nb\n")
    with pytest.raises(DataFormatError, match=r"docs.all:4: unknown SMART field: marker .E is not a SMART field "
                                              r"\(.I .T .W .K .A .B .N .X .C\)"):
        smart.read_documents(path)
    report = SkipReport()
    docs = smart.read_documents(path, on_error="skip", report=report)
    assert docs == {"1": "title body text", "2": "b"}
    assert "secret" not in " ".join(docs.values()) and "more" not in " ".join(docs.values())
    assert report.counts == {"unknown SMART field": 2}
    assert report.examples["unknown SMART field"][0].startswith(f"{path}:4: marker .E")


def test_repeated_field_is_appended_and_noted(tmp_path: Path) -> None:
    path = write(tmp_path, "docs.all", ".I 1\n.W\nfirst part\n.A\nauthor\n.W\nsecond part\n")
    notes = SkipReport()
    assert smart.read_documents(path, notes=notes) == {"1": "first part second part"}
    assert notes.counts == {"repeated SMART field (appended)": 1}


@pytest.mark.parametrize("layout,text", [
    ("3 columns", "001 0002 2\n1 3 -1\n01 4 0\n"),
    ("TREC 4 columns", "001 0 0002 2\n1 0 3 -1\n01 Q0 4 0\n"),
])
def test_qrels_layouts_codes_and_padding(tmp_path: Path, layout: str, text: str) -> None:
    path = write(tmp_path, "qrels", text)
    assert smart.read_qrels(path, docs={"2", "3", "4"}, queries={"1"}) == {"1": {"2": 2, "3": -1, "4": 0}}


def test_cacm_cisi_qrels_and_errors(tmp_path: Path) -> None:
    cacm = write(tmp_path, "qrels.text", "01 1410  0 0\n01 1572  0 0\n02 2434\t0\t0.000000\n\n")
    assert smart.read_qrels(cacm) == {"1": {"1410": 1, "1572": 1}, "2": {"2434": 1}}
    bad = write(tmp_path, "bad", "1 2 3\n1 two words here x\n")
    with pytest.raises(DataFormatError) as err:
        smart.read_qrels(bad)
    msg = str(err.value)
    assert msg.startswith(f"{bad}:2: unreadable qrels line") and "`qid docid rel`" in msg
    assert "TREC `qid 0 docid rel`" in msg and "SMART `qid docid 0 0`" in msg
    mixed = write(tmp_path, "mixed", "1 2 3\n1 0 2 3\n")
    with pytest.raises(DataFormatError, match=r"mixed:2: mixed qrels layouts: trec here but 3col on line 1"):
        smart.read_qrels(mixed, on_error="skip")


def test_smart_source_end_to_end(tmp_path: Path) -> None:
    write(tmp_path, "docs.all", "".join(f".I {i:04d}\n.T\ntitle {i}\n.W\nbody words of document {i} here.\n"
                                        for i in range(1, 41)))
    write(tmp_path, "q.qry", "".join(f".I {i:03d}\n.W\nwords of {i}\n" for i in range(1, 11)))
    write(tmp_path, "rel", "".join(f"{i:02d} 0 {i:05d} 1\n" for i in range(1, 11)))
    raw = {"source": "smart", "local": {
        "path": str(tmp_path), "collection": "docs.all", "test": {"queries": "q.qry", "qrels": "rel"}},
        "splits": {"dev_from_test": 0.2}, "pseudo_queries": {"enabled": True, "n_queries": 20}}
    with pytest.raises(ConfigError, match=r"median length \(3 words, the pseudo-query window\) is below "
                                          r"data.pseudo_queries.min_words \(4\); lower min_words or set max_words"):
        load_dataset(from_mapping(DataConfig, raw))
    raw["pseudo_queries"] = {"enabled": True, "n_queries": 20, "min_words": 2}
    ds, _ = load_dataset(from_mapping(DataConfig, raw))
    assert sorted(ds.corpus, key=int) == [str(i) for i in range(1, 41)]
    judged = {**ds.splits["dev"].qrels, **ds.splits["test"].qrels}
    assert judged == {str(i): {str(i): 1} for i in range(1, 11)}
    assert ds.meta["splits"]["pseudo_queries"]["window_words"] == 3     # median of the 3-word judged queries


@pytest.mark.shared_data
def test_real_cranfield_through_the_smart_reader(shared_data: Path) -> None:
    d = shared_data / "cranfield"
    notes = SkipReport()
    docs = cranfield.read_documents(d / "cran.all.1400", notes=notes)
    queries = cranfield.read_queries(d / "cran.qry")
    qrels = cranfield.read_qrels(d / "cranqrel", docs=docs, queries=queries)
    assert len(docs) == 1400 and len(queries) == 225 and sum(map(len, qrels.values())) == 1837
    # doc 240 repeats .A and .B inside its abstract; doc 576 repeats .W: appended, counted, never an error
    assert notes.counts == {"repeated SMART field (appended)": 4}
    assert "application to turbulent separations" not in docs["240"]   # the text after the repeated .A is authors'
    # the same files read as a generic SMART collection (ids from .I) give the same documents
    assert smart.read_documents(d / "cran.all.1400") == docs
    assert list(smart.read_queries(d / "cran.qry"))[:3] == ["1", "2", "4"]


@pytest.mark.shared_data
def test_npl_loads_through_the_trec_reader(shared_data: Path) -> None:
    d = shared_data / "npl-vaswani"
    docs = trec.read_documents(d / "corpus" / "doc-text.trec")
    assert len(docs) == 11429 and all(k == smart.norm_id(k) for k in docs)     # DOCNOs carry no padding
    cfg = from_mapping(DataConfig, {"source": "trec", "local": {
        "path": str(d), "collection": "corpus/doc-text.trec", "test": {"queries": "query-text.trec", "qrels": "qrels"}},
        "splits": {"dev_from_test": 0.2}, "pseudo_queries": {"enabled": True, "n_queries": 500}})
    ds, report = load_dataset(cfg)
    assert report.total == 0 and len(ds.splits["dev"].queries) + len(ds.splits["test"].queries) == 93
    lengths = sorted(len(t.split()) for s in ("dev", "test") for t in ds.splits[s].queries.values())
    assert ds.meta["splits"]["pseudo_queries"]["window_words"] == int(lengths[46] + 0.5)


def test_unknown_field_under_skip_reaches_the_card_and_the_log(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from irprune.pipeline import data_stage

    docs = write(tmp_path, "docs.all", "".join(f".I {i}\n.T\ntitle {i}\n.W\nbody words {i} here.\n" for i in range(1, 9))
                 + ".I 9\n.Q\nodd field\n.W\nbody nine.\n")
    write(tmp_path, "q.qry", "".join(f".I {i}\n.W\nbody words {i}\n" for i in range(1, 6)))
    write(tmp_path, "rel", "".join(f"{i} {i} 1\n" for i in range(1, 6)))
    cfg = from_mapping(DataConfig, {"source": "smart", "on_error": "skip", "local": {
        "path": str(tmp_path), "collection": "docs.all", "test": {"queries": "q.qry", "qrels": "rel"}},
        "splits": {"dev_from_test": 0.2}, "pseudo_queries": {"enabled": True, "n_queries": 5, "min_words": 2}})
    card = data_stage.run(SimpleNamespace(data=cfg), out_dir=tmp_path / "ds", card_path=tmp_path / "card.json",
                          skip_path=tmp_path / "skipped.json")
    assert card["skipped_lines"] == 1
    assert card["skipped_first"]["unknown SMART field"].startswith(f"{docs}:42: marker .Q")
    assert f"unknown SMART field: 1 (first: {docs}:42" in capsys.readouterr().out
    assert card["pseudo_queries"]["window_words"] == 3 and card["pseudo_queries"]["strategy"] == "ict"
