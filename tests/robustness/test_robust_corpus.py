"""Issue 13, the corpus reader and `index_corpus`: every bad corpus line is a CorpusError with file:line
and the fix (never a UnicodeDecodeError, EOFError or a tokenizer crash), the whole file is checked
before the first write, and documents without text are counted and reported instead of passing silently.

The reader tests need no model; the index_corpus ones use the tiny random Llama artifact and the real
embedded engine in tmp_path."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest
from conftest import nested_dict

from lightretriever.components.corpus import count_documents, read_corpus
from lightretriever.components.errors import CorpusError, InvalidArgumentError, PayloadError
from lightretriever.components.store import CollectionSchema, QdrantHybridStore
from lightretriever.pipelines.indexing import index_corpus
from lightretriever.training.data import TrainingDataError, read_triples

SCIFACT_PLAIN = Path("/work/shared/data/scifact/corpus.jsonl")


def lines(n: int, start: int = 0) -> list[bytes]:
    return [json.dumps({"_id": f"d{i}", "title": "T", "text": f"cell gene {i}"}).encode() for i in range(start, n)]


def write(path: Path, rows: list[bytes]) -> Path:
    data = b"\n".join(rows) + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def read_all(path: Path) -> list:
    return list(read_corpus(path))


# -- bytes that are not text -----------------------------------------------------------------------

def test_a_latin1_byte_names_line_column_offset_and_the_fix(tmp_path):
    rows = lines(30)
    rows[20] = b'{"_id": "x", "text": "caf\xe9 au lait"}'
    corpus = write(tmp_path / "c.jsonl", rows)
    offset = corpus.read_bytes().index(b"\xe9")
    expected = rf"c.jsonl:21: byte 0xe9 at column 26 \(byte {offset} of the file\) is not UTF-8.*iconv -f latin1"
    with pytest.raises(CorpusError, match=expected):
        count_documents(corpus)  # the pre-scan `index` runs before loading the model
    with pytest.raises(CorpusError, match=expected):
        read_all(corpus)


def test_a_latin1_byte_in_a_gzip_corpus(tmp_path):
    rows = lines(5)
    rows[3] = b'{"_id": "x", "text": "na\xefve"}'
    corpus = write(tmp_path / "c.jsonl.gz", rows)
    with pytest.raises(CorpusError, match=r"c.jsonl.gz:4: byte 0xef .* of the decompressed text\) is not UTF-8.*zcat"):
        read_all(corpus)


def test_a_byte_order_mark_on_line_one_is_read_as_nothing(tmp_path):
    corpus = write(tmp_path / "c.jsonl", [b"\xef\xbb\xbf" + lines(1)[0]] + lines(2, 1))
    assert [d.id for d in read_all(corpus)] == ["d0", "d1"]


@pytest.mark.parametrize("escape,field", [
    (r'{"_id": "1", "text": "a \ud800 b"}', "text"),
    (r'{"_id": "1", "text": "ok", "metadata": {"tags": ["x", "\udfff"]}}', r"metadata.tags\[1\]"),
    (r'{"_id": "1", "text": "ok", "k\udc00": 1}', "'k"),
    (r'{"_id": "\ud83d", "text": "ok"}', "_id"),
])
def test_a_lone_surrogate_escape_is_refused_at_read_time(tmp_path, escape, field):
    corpus = write(tmp_path / "c.jsonl", lines(1) + [escape.encode()])
    message = rf"c.jsonl:2: field {field}.* holds a lone surrogate escape"
    with pytest.raises(CorpusError, match=message):
        count_documents(corpus)
    with pytest.raises(CorpusError, match=message):
        read_all(corpus)


def test_a_surrogate_pair_escape_is_one_character_and_accepted(tmp_path):
    corpus = write(tmp_path / "c.jsonl", [rb'{"_id": "1", "text": "smile \ud83d\ude00"}'])
    assert count_documents(corpus) == 1
    assert read_all(corpus)[0].text == "smile \U0001f600"


# -- damaged or missing files ------------------------------------------------------------------------

def test_a_truncated_gzip_corpus_names_the_line_reached(tmp_path):
    data = gzip.compress(b"\n".join(lines(400)) + b"\n")
    corpus = tmp_path / "c.jsonl.gz"
    corpus.write_bytes(data[: len(data) // 2])
    message = r"c.jsonl.gz:\d+: the .gz file is damaged, truncated or not gzip .*\d+ lines were readable.*gzip -t"
    with pytest.raises(CorpusError, match=message):
        count_documents(corpus)
    with pytest.raises(CorpusError, match=message):
        read_all(corpus)


def test_a_plain_file_named_gz_is_refused(tmp_path):
    corpus = tmp_path / "c.jsonl.gz"
    corpus.write_bytes(b"\n".join(lines(3)))
    with pytest.raises(CorpusError, match=r"c.jsonl.gz:1: the .gz file is damaged, truncated or not gzip"):
        count_documents(corpus)


@pytest.mark.parametrize("name,message", [("missing.jsonl", "does not exist"), (".", "is a directory")])
def test_a_missing_corpus_or_a_directory(tmp_path, name, message):
    with pytest.raises(CorpusError, match=message):
        count_documents(tmp_path / name)
    with pytest.raises(CorpusError, match=message):
        read_all(tmp_path / name)


def test_training_jsonl_gets_the_same_line_numbers(tmp_path):
    triples = tmp_path / "t.jsonl"
    triples.write_bytes(b'{"query": "q", "positive": "p"}\n{"query": "caf\xe9", "positive": "p"}\n')
    with pytest.raises(TrainingDataError, match=r"t.jsonl:2: byte 0xe9 .* is not UTF-8"):
        read_triples(triples)


def test_json_nested_too_deeply_for_the_parser_is_a_corpus_error(tmp_path):
    corpus = write(tmp_path / "c.jsonl", [b'{"_id": "1", "text": "x", "m": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"])
    with pytest.raises(CorpusError, match=r"c.jsonl:1: JSON nested too deeply"):
        read_all(corpus)


def test_the_pre_scan_stays_cheap_on_scifact():
    """count_documents reads and checks the whole file; SciFact (8 MB, 5,183 lines) takes ~25 ms."""
    if not SCIFACT_PLAIN.is_file():
        pytest.skip("the shared plain SciFact corpus is not here")
    import time

    started = time.perf_counter()
    assert count_documents(SCIFACT_PLAIN) == 5183
    assert time.perf_counter() - started < 2.0  # generous: 2 shared cores


# -- field rules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,kind", [("1.0", "float"), ("true", "bool"), ('["a"]', "list"), ('{"a": 1}', "dict")])
def test_an_id_must_be_a_string_or_an_integer(tmp_path, value, kind):
    corpus = write(tmp_path / "c.jsonl", [f'{{"_id": {value}, "text": "x"}}'.encode()])
    with pytest.raises(CorpusError, match=rf"c.jsonl:1: document id .* is {kind}; an id must be a string or an integer"):
        read_all(corpus)


def test_an_integer_id_becomes_its_decimal_string(tmp_path):
    corpus = write(tmp_path / "c.jsonl", [b'{"_id": 7, "text": "x"}'])
    assert read_all(corpus)[0].id == "7"


@pytest.mark.parametrize("value,kind", [("1984", "int"), ('["a", "b"]', "list"), ('{"en": "t"}', "dict")])
def test_a_title_that_is_not_a_string_is_refused(tmp_path, value, kind):
    corpus = write(tmp_path / "c.jsonl", [f'{{"_id": "1", "title": {value}, "text": "x"}}'.encode()])
    with pytest.raises(CorpusError, match=rf"c.jsonl:1: title field is {kind} \(key 'title'\), not a string.*--title-field"):
        read_all(corpus)


def test_null_title_and_text_are_empty_and_a_scalar_metadata_is_kept(tmp_path):
    corpus = write(tmp_path / "c.jsonl", [b'{"_id": "1", "title": null, "text": null, "metadata": "web"}'])
    (doc,) = read_all(corpus)
    assert (doc.title, doc.text, doc.meta) == ("", "", {"metadata": "web"})


# -- index_corpus: nothing written before the whole file is known to be readable ------------------------

def open_store(artifact, path: Path) -> QdrantHybridStore:
    return QdrantHybridStore(path, collection="c", schema=CollectionSchema.from_artifact(artifact))


@pytest.fixture
def encoder(tiny_llama_artifact):
    from lightretriever.components import DocumentEncoder

    return DocumentEncoder(tiny_llama_artifact, device="cpu")


def test_a_bad_byte_late_in_the_corpus_writes_nothing(tiny_llama_artifact, encoder, tmp_path):
    """Before: 16 documents were written, then a UnicodeDecodeError without a line number."""
    rows = lines(30)
    rows[25] = b'{"_id": "x", "text": "caf\xe9"}'
    corpus = write(tmp_path / "c.jsonl", rows)
    with open_store(tiny_llama_artifact, tmp_path / "s") as store:
        with pytest.raises(CorpusError, match=r"c.jsonl:26: byte 0xe9"):
            index_corpus(corpus, store, encoder, batch_size=4, show_progress=False)
        assert store.count() == 0


@pytest.mark.parametrize("arguments,message", [
    ({"batch_size": 0}, "batch_size=0 must be a positive integer"),
    ({"batch_size": -2}, "batch_size=-2 must be a positive integer"),
    ({"limit": 0}, "limit=0 must be a positive integer"),
    ({"limit": -1}, "limit=-1 must be a positive integer"),
])
def test_index_corpus_refuses_meaningless_sizes(tiny_llama_artifact, encoder, tmp_path, arguments, message):
    """Before: batch_size=0 or limit=0 indexed nothing and reported success."""
    corpus = write(tmp_path / "c.jsonl", lines(3))
    with open_store(tiny_llama_artifact, tmp_path / "s") as store:
        with pytest.raises(InvalidArgumentError, match=message):
            index_corpus(corpus, store, encoder, show_progress=False, **arguments)
        assert store.count() == 0


def test_documents_without_text_are_counted_and_warned_about_once(tiny_llama_artifact, encoder, tmp_path, caplog):
    rows = lines(10)
    rows[2] = b'{"_id": "no-text", "title": "only a title"}'
    rows[5] = b'{"_id": "blank", "text": "   "}'
    rows[8] = b'{"_id": "null", "text": null}'
    corpus = write(tmp_path / "c.jsonl", rows)
    with open_store(tiny_llama_artifact, tmp_path / "s") as store, caplog.at_level(logging.WARNING):
        report = index_corpus(corpus, store, encoder, batch_size=4, show_progress=False)
    assert (report.read, report.written, report.empty) == (10, 10, 3)
    assert report.empty_examples == [f"{corpus}:3 (id 'no-text')", f"{corpus}:6 (id 'blank')", f"{corpus}:9 (id 'null')"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "lightretriever.pipelines.indexing"]
    assert len(warnings) == 1 and warnings[0].startswith("3 documents have no text")
    assert f"{corpus}:3 (id 'no-text')" in warnings[0] and "--text-field" in warnings[0]
    assert report.to_dict()["empty"] == 3


def test_a_line_that_is_not_json_tells_index_to_resume_and_the_reader_not(tiny_llama_artifact, encoder, tmp_path):
    """The reader is shared with evaluate, adapt and training, which have no --resume; index adds it."""
    rows = lines(10)
    rows[6] = b'{"_id": "broken", "text": '
    corpus = write(tmp_path / "c.jsonl", rows)
    with pytest.raises(CorpusError, match=r"c.jsonl:7: not valid JSON .*fix or remove the line$"):
        read_all(corpus)
    with open_store(tiny_llama_artifact, tmp_path / "s") as store:
        with pytest.raises(CorpusError, match=r"c.jsonl:7: not valid JSON .*and rerun with --resume$"):
            index_corpus(corpus, store, encoder, batch_size=4, show_progress=False)
        assert store.count() == 4  # the first batch, which --resume skips


def test_metadata_the_store_cannot_hold_names_the_corpus_line(tiny_llama_artifact, encoder, tmp_path):
    """The store's PayloadError names the document id; index adds where it is in the corpus. The batches
    before it stay stored, and the collection opens, counts and searches as before."""
    rows = lines(10)
    rows[6] = json.dumps({"_id": "deep", "text": "x", "metadata": nested_dict(40)}).encode()
    corpus = write(tmp_path / "c.jsonl", rows)
    with open_store(tiny_llama_artifact, tmp_path / "s") as store:
        with pytest.raises(PayloadError, match=r"c.jsonl:7: document 'deep', field meta.a.a.*nesting is deeper.*--resume"):
            index_corpus(corpus, store, encoder, batch_size=4, show_progress=False)
        assert store.count() == 4  # the first batch
    with open_store(tiny_llama_artifact, tmp_path / "s") as store:
        assert sorted(d.id for d in store.iter_documents()) == ["d0", "d1", "d2", "d3"]
