"""Bad input on small files written here: each case raises a DataFormatError naming file, line, problem and fix,
or (on_error='skip') drops exactly the bad line and counts it by reason, keeping the good lines."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Callable

import pytest

from irprune.data import beir, cranfield, msmarco, smart, trec
from irprune.data.text import clean_field, read_lines
from irprune.data.types import SkipReport
from irprune.errors import DataFormatError

DOCS = {"d1": "x", "d2": "y"}
QUERIES = {"q1": "a"}

# (name, file text, reader(path, **kw), reason counted under skip, bad line number, expected result under skip)
CASES: list[tuple[str, str, Callable[..., Any], str, int, Any]] = [
    ("collection: wrong columns", "1\tok\n2 no tab\n3\tfine\n", msmarco.read_collection, "wrong column count", 2,
     {"1": "ok", "3": "fine"}),
    ("collection: extra tab", "1\tok\n2\ta\tb\n", msmarco.read_collection, "wrong column count", 2, {"1": "ok"}),
    ("collection: empty id", "1\tok\n\tno id\n", msmarco.read_collection, "empty id", 2, {"1": "ok"}),
    ("collection: duplicate id", "1\tok\n1\tagain\n", msmarco.read_collection, "duplicate id", 2, {"1": "ok"}),
    ("collection: blank line", "1\tok\n\n2\tb\n", msmarco.read_collection, "blank line", 2, {"1": "ok", "2": "b"}),
    ("queries: empty text", "q1\t \nq2\tb\n", msmarco.read_queries, "empty text", 1, {"q2": "b"}),
    ("queries: duplicate id", "q1\ta\nq2\tb\nq1\tc\n", msmarco.read_queries, "duplicate id", 3,
     {"q1": "a", "q2": "b"}),
    ("qrels: non-integer relevance", "q1 0 d1 1\nq1 0 d2 high\n", msmarco.read_qrels, "non-integer relevance", 2,
     {"q1": {"d1": 1}}),
    ("qrels: wrong columns", "q1 0 d1 1\nq1 d2\n", msmarco.read_qrels, "wrong column count", 2, {"q1": {"d1": 1}}),
    ("qrels: 5 columns", "q1\td1\t1\nq1\td2\t1\tx\ty\n", msmarco.read_qrels, "wrong column count", 2,
     {"q1": {"d1": 1}}),
    ("qrels: unknown document", "q1 0 d1 1\nq1 0 d9 1\n", lambda p, **kw: msmarco.read_qrels(p, docs=DOCS, **kw),
     "qrels names an unknown document", 2, {"q1": {"d1": 1}}),
    ("qrels: unknown query", "q1 0 d1 1\nq7 0 d2 1\n",
     lambda p, **kw: msmarco.read_qrels(p, queries=QUERIES, **kw), "qrels names an unknown query", 2,
     {"q1": {"d1": 1}}),
    ("qrels: duplicate judgement", "q1 0 d1 1\nq1 0 d1 2\n", msmarco.read_qrels, "duplicate judgement", 2,
     {"q1": {"d1": 1}}),
    ("qrels: header outside BEIR", "query-id\tcorpus-id\tscore\nq1\td1\t1\n", msmarco.read_qrels,
     "non-integer relevance", 1, {"q1": {"d1": 1}}),
    ("beir corpus: invalid JSON", '{"_id": "1", "text": "a"}\n{"_id": "2", "text": \n', beir.read_corpus,
     "invalid JSON", 2, {"1": "a"}),
    ("beir corpus: missing _id", '{"_id": "1", "text": "a"}\n{"text": "b"}\n', beir.read_corpus, "empty id", 2,
     {"1": "a"}),
    ("beir corpus: duplicate", '{"_id": 1, "text": "a"}\n{"_id": "1", "text": "b"}\n', beir.read_corpus,
     "duplicate id", 2, {"1": "a"}),
    ("beir corpus: not an object", '{"_id": "1", "text": "a"}\n["x"]\n', beir.read_corpus, "invalid JSON", 2,
     {"1": "a"}),
    ("beir queries: no text", '{"_id": "q1", "text": "a"}\n{"_id": "q2"}\n', beir.read_queries, "empty text", 2,
     {"q1": "a"}),
    ("trec docs: no DOCNO", "<DOC>\n<DOCNO>1</DOCNO>\na\n</DOC>\n<DOC>\nb\n</DOC>\n", trec.read_documents,
     "empty id", 5, {"1": "a"}),
    ("trec docs: duplicate", "<DOC><DOCNO>1</DOCNO> a </DOC>\n<DOC><DOCNO>1</DOCNO> b </DOC>\n",
     trec.read_documents, "duplicate id", 2, {"1": "a"}),
    ("trec docs: unterminated", "<DOC>\n<DOCNO>1</DOCNO>\na\n</DOC>\n<DOC>\n<DOCNO>2</DOCNO>\nb\n",
     trec.read_documents, "unterminated document", 5, {"1": "a"}),
    ("trec docs: stray text", "<DOC>\n<DOCNO>1</DOCNO>\na\n</DOC>\nstray\n", trec.read_documents,
     "text outside a document", 5, {"1": "a"}),
    ("trec topics: no title", "<top>\n<num>1</num><title>\nA B\n</title>\n</top>\n<top>\n<num>2</num>\n</top>\n",
     trec.read_topics, "empty text", 6, {"1": "A B"}),
    ("trec topics: unterminated", "<top>\n<num>1</num><title>A</title>\n</top>\n<top>\n<num>2</num><title>B\n",
     trec.read_topics, "unterminated topic", 4, {"1": "A"}),
    ("cranfield qrels: unknown code", "1 1 2 \r\n1 2 7 \r\n", cranfield.read_qrels, "unknown relevance code", 2,
     {"1": {"1": 3}}),
    ("cranfield docs: text outside a record", "stray\r\n.I 1\r\n.T\r\nt\r\n.W\r\nw w\r\n", cranfield.read_documents,
     "text outside a record", 1, {"1": "t w w"}),
    ("smart docs: unknown field", ".I 1\n.T\nt\n.E\nnot glued\n.W\nw w\n", smart.read_documents,
     "unknown SMART field", 4, {"1": "t w w"}),
    ("smart qrels: unreadable line", "01 002 3\n1 2 3 4 5\n", smart.read_qrels, "unreadable qrels line", 2,
     {"1": {"2": 3}}),
    ("candidates: unknown document", "q1\td1\nq1\td9\n",
     lambda p, **kw: msmarco.read_candidates(p, docs=DOCS, **kw), "candidate names an unknown document", 2,
     {"q1": ["d1"]}),
    ("candidates: duplicate", "q1\td1\t1\nq1\td1\t2\n", msmarco.read_candidates, "duplicate candidate", 2,
     {"q1": ["d1"]}),
    ("candidates: bad score", "q1 Q0 d1 1 2.5 r\nq1 Q0 d2 2 high r\n", msmarco.read_candidates,
     "non-numeric rank or score", 2, {"q1": ["d1"]}),
]


@pytest.mark.parametrize("name,text,reader,reason,line,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_line_raises_or_is_counted(tmp_path: Path, name: str, text: str, reader: Callable[..., Any],
                                       reason: str, line: int, expected: Any) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(DataFormatError) as err:
        reader(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: {reason}") and "fix:" in msg
    assert err.value.path == path and err.value.line == line
    report = SkipReport()
    assert reader(path, on_error="skip", report=report) == expected
    assert report.counts == {reason: 1}
    assert report.examples[reason][0].startswith(f"{path}:{line}:")


def test_mixed_qrels_layouts_is_an_error_even_when_skipping(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 1\nq1\td2\t1\n", encoding="utf-8")
    for mode in ("raise", "skip"):
        with pytest.raises(DataFormatError, match=r"qrels.txt:2: mixed qrels layouts: 3 columns here but 4"):
            msmarco.read_qrels(path, on_error=mode)  # type: ignore[arg-type]


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"nope.tsv: an MS MARCO collection .* expected here, but the path "
                                              r"does not exist"):
        msmarco.read_collection(tmp_path / "nope.tsv")
    with pytest.raises(DataFormatError, match="is a folder"):
        trec.read_topics(tmp_path)
    (tmp_path / "empty.tsv").write_bytes(b"")
    for reader in (msmarco.read_collection, msmarco.read_queries, msmarco.read_qrels, beir.read_corpus,
                   trec.read_documents, cranfield.read_documents):
        with pytest.raises(DataFormatError, match=r"empty.tsv: file is empty; expected"):
            reader(tmp_path / "empty.tsv", on_error="skip")


def test_invalid_utf8_names_line_and_byte_even_when_skipping(tmp_path: Path) -> None:
    path = tmp_path / "collection.tsv"
    path.write_bytes("1\tfine\n2\tcaf".encode("utf-8") + b"\xe9 latin-1\n")   # é as latin-1 byte 0xe9
    for mode in ("raise", "skip"):
        with pytest.raises(DataFormatError) as err:
            msmarco.read_collection(path, on_error=mode)  # type: ignore[arg-type]
        assert str(err.value).startswith(f"{path}:2: byte 12 (0xe9, column 6 of this line) is not valid UTF-8")
        assert "iconv" in str(err.value)
    gz = tmp_path / "topics.tsv.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(b"1\t\xff\xfe\n")
    with pytest.raises(DataFormatError, match="topics.tsv.gz:1: byte 2 .* not valid UTF-8"):
        trec.read_topics(gz)


def test_crlf_bom_and_clean_field(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_bytes("\ufeffq1\thello\r\nq2\t world \r\n".encode("utf-8"))
    assert msmarco.read_queries(path) == {"q1": "hello", "q2": "world"}
    assert [n for n, _ in read_lines(path, "x")] == [1, 2]
    assert clean_field(" a\tb\r\n\nc  d \t") == "a b c  d"


def test_layout_detection_and_header(tmp_path: Path) -> None:
    beir_q = tmp_path / "test.tsv"
    beir_q.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n", encoding="utf-8")
    assert beir.read_split_qrels(beir_q) == {"q1": {"d1": 2, "d2": 0}}
    trec_q = tmp_path / "trec.txt"
    trec_q.write_text("q1 Q0 d1 2\nq1\t0\td2\t-1\n", encoding="utf-8")   # spaces and tabs, same 4-column layout
    assert msmarco.read_qrels(trec_q) == {"q1": {"d1": 2, "d2": -1}}
    with pytest.raises(DataFormatError, match="expected 3"):
        msmarco.read_qrels(trec_q, layout="tsv3")


def test_candidate_formats_and_order(tmp_path: Path) -> None:
    top = tmp_path / "top1000.tsv"
    top.write_text("q1\td2\tquery one\tpassage two\nq1\td1\tquery one\tpassage one\nq2\td1\tq two\tp\n",
                   encoding="utf-8")
    assert msmarco.read_candidates(top) == {"q1": ["d2", "d1"], "q2": ["d1"]}     # file order
    msrun = tmp_path / "run.tsv"
    msrun.write_text("q1\td1\t2\nq1\td2\t1\n", encoding="utf-8")
    assert msmarco.read_candidates(msrun) == {"q1": ["d2", "d1"]}                  # by rank
    run = tmp_path / "run.trec"
    # trec_eval order: score descending, ties by docno descending; the rank column is ignored
    run.write_text("q1 Q0 d1 1 1.0 r\nq1 Q0 d3 2 3.0 r\nq1 Q0 d2 3 1.0 r\n", encoding="utf-8")
    assert msmarco.read_candidates(run) == {"q1": ["d3", "d2", "d1"]}
    mixed = tmp_path / "mixed.tsv"
    mixed.write_text("q1\td1\nq1\td2\t3\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="mixed candidate layouts"):
        msmarco.read_candidates(mixed)


def test_classic_trec_topics_and_body_tags(tmp_path: Path) -> None:
    topics = tmp_path / "topics.301"
    topics.write_text("<top>\n<num> Number: 301\n<title> Topic: International Organized Crime\n\n<desc> "
                      "Description:\nIdentify organizations.\n</top>\n", encoding="utf-8")
    assert trec.read_topics(topics) == {"301": "International Organized Crime"}
    assert trec.read_topics(topics, field="desc") == {"301": "Identify organizations."}
    docs = tmp_path / "docs.sgml"
    docs.write_text("<DOC>\n<DOCNO> FT1 </DOCNO>\n<HEADLINE>Head</HEADLINE>\n<TEXT>\nBody\ntext\n</TEXT>\n</DOC>\n",
                    encoding="utf-8")
    assert trec.read_documents(docs) == {"FT1": "Head Body text"}
    assert trec.read_documents(docs, text_tags=("TEXT",)) == {"FT1": "Body text"}
