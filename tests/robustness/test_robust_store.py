"""The store's write side and its faults, on the real qdrant-edge engine (issue 13): payloads the engine
cannot keep (too deep, too large, unsupported types, bad ids, bad vectors) are refused before anything is
written and the collection reads back exactly as before; engine panics and "No space left" become
StoreError / StoreFullError; a nearly full disk is refused before the engine could crash with SIGBUS; a
lost collection record refuses instead of adopting the shard; a missing collection leaves no trace."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from lightretriever.components.errors import (InvalidArgumentError, PayloadError, StoreError, StoreFullError,
                                              StoreMismatchError)
from lightretriever.components.sparse import SparseVector
from lightretriever.components.store import CollectionSchema, QdrantHybridStore, StoredDocument
from lightretriever.components.store.disk import MIN_FREE_ENV, free_bytes
from lightretriever.components.store.edge import RECORD_FILE, SHARD_DIR
from lightretriever.components.store.payload import MAX_DEPTH, MAX_ID_LENGTH, MAX_PAYLOAD_BYTES

SCHEMA = CollectionSchema(dense_dim=4, vocab_size=10, document_fingerprint="doc-encoder-A")
OTHER = CollectionSchema(dense_dim=4, vocab_size=10, document_fingerprint="doc-encoder-B")
Q_DENSE = [1.0, 0.0, 0.0, 0.0]
Q_SPARSE = SparseVector(np.array([1, 2]), np.array([1.0, 1.0], dtype=np.float32))
GOOD_META = [{"year": 2019, "lang": "en", "tags": ["x", "y"]}, {"year": 2020, "nested": {"a": {"b": [1, 2.5]}}},
             {"year": 2021, "when": "2021-03-04T05:06:07", "none": None, "ok": True}]


def dense_rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 4)).astype(np.float32) + 0.1


def write(store: QdrantHybridStore, docs: list[StoredDocument], seed: int = 0) -> int:
    token_ids = [sorted({i % 10, (i * 7 + 3) % 10}) for i in range(len(docs))]
    sparse = [SparseVector(np.array(ids, dtype=np.int64), np.ones(len(ids), dtype=np.float32)) for ids in token_ids]
    return store.upsert(docs, dense_rows(len(docs), seed), sparse)


def good_docs(prefix: str = "g", n: int = 3) -> list[StoredDocument]:
    return [StoredDocument(id=f"{prefix}{i}", text=f"text {i}", title=f"title {i}", meta=GOOD_META[i % 3])
            for i in range(n)]


def nested(depth: int, leaf=1):
    """`depth` dicts inside each other: nested(2) == {"a": {"a": 1}}."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def snapshot(store: QdrantHybridStore) -> tuple:
    """What a reader sees: the count, a filtered count, a hybrid search and every stored document."""
    hits = store.search(Q_DENSE, Q_SPARSE, k=10)
    documents = sorted((d.id, d.title, d.text, json.dumps(d.meta, sort_keys=True)) for d in store.iter_documents())
    return (store.count(), store.count({"field": "meta.year", "operator": ">=", "value": 2020}),
            [(h.id, round(h.score, 5)) for h in hits], documents)


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root):
    s = QdrantHybridStore(root, collection="c", schema=SCHEMA)
    write(s, good_docs())
    yield s
    s.close()


# -- payload limits and types (point 1) ------------------------------------------------------------------

@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 123, 126, 5000])
def test_metadata_nested_past_the_limit_is_refused_before_the_engine(store, root, depth):
    """Before: 123+ levels were stored, then the collection never opened again (WAL RecursionLimitExceeded)."""
    before = snapshot(store)
    deep = StoredDocument(id="deep", text="t", meta=nested(depth))  # meta is the outermost of `depth` dicts
    with pytest.raises(PayloadError, match=rf"document 'deep', field meta(\.a)+: nesting is deeper than {MAX_DEPTH} "
                                           r"levels; flatten the metadata.*Nothing of this batch was written"):
        write(store, good_docs("new") + [deep])
    assert snapshot(store) == before
    store.close()
    with QdrantHybridStore(root, collection="c", schema=SCHEMA) as reopened:
        assert snapshot(reopened) == before


def test_metadata_at_the_depth_limit_round_trips(store, root):
    meta = nested(MAX_DEPTH)  # meta itself is the first of MAX_DEPTH levels
    deep_list = {"l": [[[[1, [2]]]]]}
    write(store, [StoredDocument(id="deep", text="t", meta=meta), StoredDocument(id="lists", text="t", meta=deep_list)])
    store.close()
    with QdrantHybridStore(root, collection="c", schema=SCHEMA) as reopened:
        assert reopened.get(["deep", "lists"])[0].meta == meta
        assert reopened.get(["lists"])[0].meta == deep_list
        assert reopened.count({"field": "meta." + ".".join(["a"] * MAX_DEPTH), "operator": "==", "value": 1}) == 1


BAD_VALUES = [
    (datetime.datetime(2020, 1, 2, 3, 4), "meta.v", r"datetime values cannot be stored; store it as an ISO string"),
    (datetime.date(2020, 1, 2), "meta.v", r"date values cannot be stored; store it as an ISO string \(value.isoformat"),
    ({1, 2}, "meta.v", r"set values cannot be stored; store a list"),
    (frozenset([1]), "meta.v", r"frozenset values cannot be stored; store a list"),
    (uuid.UUID(int=7), "meta.v", r"UUID values cannot be stored; store it as a string \(str\(value\)\)"),
    (b"ab", "meta.v", r"bytes values cannot be stored; store text"),
    ((1, 2), "meta.v", r"tuple values cannot be stored; store a list"),
    (decimal.Decimal("1.25"), "meta.v", r"Decimal values cannot be stored"),
    (float("nan"), "meta.v", r"nan is not a finite number"),
    (float("-inf"), "meta.v", r"-inf is not a finite number"),
    (2**70, "meta.v", r"integer 1180591620717411303424 is outside int64; store it as a string"),
    (2**63, "meta.v", r"integer 9223372036854775808 is outside int64"),
    (-(2**63) - 1, "meta.v", r"integer -9223372036854775809 is outside int64"),
    (np.int64(3), "meta.v", r"int64 values cannot be stored; .*value.item\(\) for a numpy scalar"),
    ({1: "a"}, r"meta.v\[1\]", r"key 1 is int, not str; use string keys"),
    ({("a",): 1}, r"meta.v\[\('a',\)\]", r"key \('a',\) is tuple"),
    ("a\udc80b", "meta.v", r"text has an unpaired surrogate at character 1"),
    ({"x": "ok", "y": [1, {"when": datetime.datetime(2020, 1, 1)}]}, r"meta.v.y\[1\].when", r"datetime values"),
    (object(), "meta.v", r"object values cannot be stored; convert it to str, int, float, bool, None, list or dict"),
]


@pytest.mark.parametrize("value, path, message", BAD_VALUES, ids=[type(v).__name__ + str(i) for i, (v, _, _) in
                                                                  enumerate(BAD_VALUES)])
def test_unstorable_metadata_values_are_refused_with_the_path_and_the_fix(store, value, path, message):
    """Before: a cryptic pyo3 TypeError for the whole batch (datetime, set, uuid, NaN, int keys), or a silent
    change of type (tuple/bytes -> list, 2**70 -> float, Decimal -> float)."""
    before = snapshot(store)
    bad = StoredDocument(id="bad-doc", text="t", meta={"v": value})
    with pytest.raises(PayloadError, match=rf"document 'bad-doc', field {path}: {message}"):
        write(store, good_docs("new") + [bad])
    assert snapshot(store) == before  # the good documents before it were not written either
    assert store.get(["new0"]) == []


def test_storable_edge_values_round_trip_unchanged(store):
    meta = {"max": 2**63 - 1, "min": -(2**63), "f": 1.5e300, "neg": -0.0, "s": "ünï 中文 \x00", "b": False,
            "n": None, "empty": {}, "list": [], "np_float": float(np.float64(0.25))}
    write(store, [StoredDocument(id="edge", text="t", meta=meta)])
    assert store.get(["edge"])[0].meta == meta


def test_floats_of_up_to_15_digits_round_trip_exactly(store):
    """What payload.py promises for floats (qdrant-edge may move others by 1 ULP)."""
    rng = np.random.default_rng(0)
    values = [float(f"{v:.15g}") for v in rng.random(500) * 10.0 ** rng.integers(-4, 15, 500)]
    docs = [StoredDocument(id=f"f{i}", text="t", meta={"v": v}) for i, v in enumerate(values)]
    write(store, docs)
    assert [d.meta["v"] for d in store.get([d.id for d in docs])] == values


def test_text_and_title_must_be_strings(store):
    with pytest.raises(PayloadError, match=r"document 'x': field 'text' is NoneType, not str"):
        write(store, [StoredDocument(id="x", text=None)])
    with pytest.raises(PayloadError, match=r"document 'x': field 'title' is int, not str"):
        write(store, [StoredDocument(id="x", text="t", title=3)])
    with pytest.raises(PayloadError, match=r"document 'x': meta is list, not a dict"):
        write(store, [StoredDocument(id="x", text="t", meta=[1])])


def test_payload_larger_than_the_limit_is_refused(store):
    limit_mib = MAX_PAYLOAD_BYTES // 2**20
    big = StoredDocument(id="big", text="x" * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(PayloadError, match=rf"document 'big': payload is {limit_mib}\.0 MiB but at most {limit_mib} "
                                           r"MiB per document is stored; split the document"):
        write(store, [big])
    big_meta = StoredDocument(id="big-meta", text="t", meta={"chunks": ["é" * 2**20] * (limit_mib // 2 + 1)})
    with pytest.raises(PayloadError, match=r"document 'big-meta': payload is"):
        write(store, [big_meta])
    just_fits = StoredDocument(id="fits", text="x" * (MAX_PAYLOAD_BYTES - 1024))
    write(store, [just_fits])
    assert len(store.get(["fits"])[0].text) == MAX_PAYLOAD_BYTES - 1024


# -- ids and vectors (point 6) -----------------------------------------------------------------------------

@pytest.mark.parametrize("doc_id, message", [
    ("", r"document #1 of the batch: id is empty; give every document a unique non-empty id"),
    (5, r"document #1 of the batch: id 5 is int, not str; pass ids as strings"),
    (None, r"document #1 of the batch: id None is NoneType, not str"),
    ("x" * (MAX_ID_LENGTH + 1), rf"document #1 of the batch: id 'x+'… has {MAX_ID_LENGTH + 1} characters \(at most "
                                rf"{MAX_ID_LENGTH}\); is a text field mapped as the id\?"),
    ("a\ud800", r"document #1 of the batch, field id: text has an unpaired surrogate"),
])
def test_bad_document_ids_are_refused(store, doc_id, message):
    """Before: "" and 5 and None were stored (as '', '5', 'None': 5 and "5" then collide), 100 kB ids too."""
    before = snapshot(store)
    with pytest.raises(PayloadError, match=message):
        write(store, [StoredDocument(id="fine", text="t"), StoredDocument(id=doc_id, text="t")])
    assert snapshot(store) == before


def test_longest_allowed_id_round_trips(store):
    long_id = "é" * MAX_ID_LENGTH
    write(store, [StoredDocument(id=long_id, text="t")])
    assert [d.id for d in store.get([long_id])] == [long_id]


@pytest.mark.parametrize("dense, sparse, message", [
    ([np.nan, 1, 0, 0], ([1], [1.0]), r"document 'v': its dense vector has NaN or infinite values"),
    ([np.inf, 1, 0, 0], ([1], [1.0]), r"document 'v': its dense vector has NaN or infinite values"),
    ([1, 0, 0, 0], ([-1], [1.0]), r"document 'v': its sparse vector is malformed: token ids must lie in \[0, 10\)"),
    ([1, 0, 0, 0], ([10], [1.0]), r"token ids must lie in \[0, 10\) \(got 10..10\)"),
    ([1, 0, 0, 0], ([1, 1], [1.0, 2.0]), r"token ids repeat"),
    ([1, 0, 0, 0], ([1], [np.nan]), r"values are NaN or infinite"),
    ([1, 0, 0, 0], ([1, 2], [1.0]), r"2 indices but 1 values"),
])
def test_bad_vectors_are_refused(store, dense, sparse, message):
    """Before: NaN/inf dense rows and NaN sparse values were stored (NaN scores), ids >= vocabulary and repeats
    were stored as they were, a negative id was a raw OverflowError."""
    before = snapshot(store)
    vec = SparseVector(np.array(sparse[0], dtype=np.int64), np.array(sparse[1], dtype=np.float32))
    with pytest.raises(InvalidArgumentError, match=message):
        store.upsert([StoredDocument(id="ok", text="t"), StoredDocument(id="v", text="t")],
                     np.array([[1, 0, 0, 0], dense], dtype=np.float32), [Q_SPARSE, vec])
    assert snapshot(store) == before


def test_upsert_refuses_what_is_not_a_stored_document(store):
    with pytest.raises(InvalidArgumentError, match="upsert takes StoredDocument objects"):
        store.upsert([{"id": "a", "text": "t"}], dense_rows(1), [Q_SPARSE])


# -- after any rejected write the collection is exactly as before (point 2) ----------------------------------

def every_bad_write() -> list:
    docs = [StoredDocument(id="deep", text="t", meta=nested(200)),
            StoredDocument(id="big", text="x" * (MAX_PAYLOAD_BYTES + 1)),
            StoredDocument(id="", text="t"), StoredDocument(id=7, text="t"),
            StoredDocument(id="x" * (MAX_ID_LENGTH + 1), text="t")]
    docs += [StoredDocument(id=f"bad-{i}", text="t", meta={"v": value}) for i, (value, _, _) in enumerate(BAD_VALUES)]
    return docs


def test_collection_reads_back_exactly_as_before_after_every_rejected_write(root):
    with QdrantHybridStore(root, collection="c", schema=SCHEMA) as s:
        write(s, good_docs(n=6))
        s.flush()
        before = snapshot(s)
        payloads = {d.id: d for d in s.get([f"g{i}" for i in range(6)])}
        for bad in every_bad_write():
            with pytest.raises(PayloadError):
                write(s, good_docs("new", 2) + [bad])
        with pytest.raises(InvalidArgumentError):
            s.upsert(good_docs("new", 1), np.array([[np.nan, 0, 0, 0]], dtype=np.float32), [Q_SPARSE])
        assert snapshot(s) == before
    with QdrantHybridStore(root, collection="c", schema=SCHEMA) as reopened:
        assert snapshot(reopened) == before
        assert {d.id: d for d in reopened.get(list(payloads))} == payloads
        write(reopened, good_docs("after", 1))  # still writable
        assert reopened.count() == before[0] + 1


def test_haystack_write_documents_refuses_bad_metadata_and_names_the_document(tmp_path):
    from haystack import Document

    from lightretriever.components.haystack import LightRetrieverDocumentStore
    from query_artifacts import make_query_artifact

    artifact, _ = make_query_artifact(tmp_path / "artifact")
    store = LightRetrieverDocumentStore(path=str(tmp_path / "hs"), collection="docs", model=str(artifact.root))
    try:
        assert store.write_documents([Document(id="ok", content="fine", meta={"year": 2020})]) == 1
        with pytest.raises(PayloadError, match=r"document 'dated', field meta.when: datetime values cannot be "
                                               r"stored; store it as an ISO string"):
            store.write_documents([Document(id="n1", content="x"),
                                   Document(id="dated", content="x", meta={"when": datetime.datetime(2020, 1, 1)})])
        with pytest.raises(PayloadError, match=r"document 'deep', field meta(\.a)+: nesting is deeper"):
            store.write_documents([Document(id="deep", content="x", meta=nested(130))])
        assert store.count_documents() == 1
    finally:
        store.close()
    reopened = LightRetrieverDocumentStore(path=str(tmp_path / "hs"), collection="docs", model=str(artifact.root))
    try:
        assert [d.id for d in reopened.filter_documents()] == ["ok"]
    finally:
        reopened.close()


@pytest.mark.slow
def test_cli_index_refuses_deep_metadata_and_the_collection_still_opens(tiny_llama_artifact, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": "a", "text": "the cell"}, {"_id": "deep", "text": "the gene", "extra": nested(125)}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_cli("index", str(tiny_llama_artifact.root), "--corpus", str(corpus), "--store",
                     str(tmp_path / "s"), "--collection", "c", check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "document 'deep', field meta.extra.a" in errors[0]
    assert f"nesting is deeper than {MAX_DEPTH} levels" in errors[0]
    with QdrantHybridStore(tmp_path / "s", collection="c") as s:  # opens (before: WAL RecursionLimitExceeded)
        assert s.count() == 0  # the refused batch held both documents


# -- engine faults become StoreError (point 1, second half) ---------------------------------------------------

def test_an_engine_panic_becomes_a_store_error(store):
    """A payload written past the checks (straight to the backend) makes filtered queries panic inside the
    engine: pyo3's PanicException derives from BaseException, which `except Exception` never catches."""
    store._backend.upsert([("00000000-0000-0000-0000-000000000001", {"dense": [1.0, 0, 0, 0]},
                            {"id": "raw", "text": "", "title": "", "meta": nested(130)})])
    with pytest.raises(StoreError, match=r"qdrant-edge could not search \(1 requests\) \(PanicException: "):
        store.search(Q_DENSE, None, k=3, filters={"field": "meta.year", "operator": "==", "value": 2020})


def test_engine_guard_lets_interrupts_through(store):
    with pytest.raises(KeyboardInterrupt):
        with store._backend._engine("anything"):
            raise KeyboardInterrupt
    with pytest.raises(StoreFullError, match=r"the disk is full \(qdrant-edge could not write: .*No space left"):
        with store._backend._engine("write"):
            raise OSError(28, "No space left on device")


# -- the collection record (point 4) ----------------------------------------------------------------------------

def test_a_deleted_record_is_restored_from_the_shard_copy_and_still_checked(store, root):
    store.close()
    folder = root / "c"
    assert (folder / SHARD_DIR / RECORD_FILE).is_file()
    (folder / RECORD_FILE).unlink()
    with pytest.raises(StoreMismatchError, match="was indexed by document encoder doc-encoder-A"):
        QdrantHybridStore(root, collection="c", schema=OTHER)  # before: adopted as a new collection of OTHER
    with QdrantHybridStore(root, collection="c", schema=SCHEMA) as s:
        assert s.count() == 3
    assert CollectionSchema.from_metadata(json.loads((folder / RECORD_FILE).read_text())) == SCHEMA


def test_a_shard_without_any_record_is_refused_not_adopted(store, root):
    store.close()
    folder = root / "c"
    (folder / RECORD_FILE).unlink()
    (folder / SHARD_DIR / RECORD_FILE).unlink()
    for schema in (OTHER, SCHEMA, None):
        with pytest.raises(StoreError, match=r"its record lightretriever-collection.json is missing and the copy in "
                                             r"shard/ is missing, but the shard holds points; .* not adopted. Restore "
                                             r"the record from a backup, or re-index into a new collection"):
            QdrantHybridStore(root, collection="c", schema=schema)
    assert not (folder / RECORD_FILE).exists()


def test_a_damaged_or_edited_record_is_refused(store, root):
    store.close()
    folder = root / "c"
    (folder / RECORD_FILE).write_text(json.dumps(OTHER.to_metadata()))  # edited to pass another encoder
    with pytest.raises(StoreError, match=r"record lightretriever-collection.json and the copy in shard/ disagree "
                                         r"\(document encoder doc-encoder-B vs doc-encoder-A\)"):
        QdrantHybridStore(root, collection="c", schema=OTHER)
    (folder / RECORD_FILE).write_text("{not json")
    with QdrantHybridStore(root, collection="c", schema=SCHEMA) as s:  # the copy stands in, then is restored
        assert s.count() == 3
    (folder / RECORD_FILE).write_text("[]")
    (folder / SHARD_DIR / RECORD_FILE).write_text("null")
    with pytest.raises(StoreError, match=r"record lightretriever-collection.json is damaged and the copy in shard/ "
                                         r"is damaged"):
        QdrantHybridStore(root, collection="c", schema=SCHEMA)


# -- a missing collection leaves no trace (point 5) ---------------------------------------------------------------

def test_opening_a_missing_collection_leaves_no_trace(store, root, tmp_path):
    """Before: `<store>/<name>/.lock` and the directory stayed behind."""
    for where in (root, tmp_path / "no" / "such" / "store"):
        with pytest.raises(StoreError, match=r"collection 'missing' in .* does not exist; index documents first"):
            QdrantHybridStore(where, collection="missing")
        with pytest.raises(StoreError, match="does not exist"):
            QdrantHybridStore(where, collection="missing", schema=SCHEMA, create=False)
    assert sorted(p.name for p in root.iterdir()) == ["c"]
    assert not (tmp_path / "no").exists()


def test_a_refused_create_leaves_no_trace(root, monkeypatch):
    monkeypatch.setenv(MIN_FREE_ENV, str(10**12))
    with pytest.raises(StoreFullError):
        QdrantHybridStore(root, collection="new", schema=SCHEMA)
    assert not (root / "new").exists()


# -- disk space (point 3) ------------------------------------------------------------------------------------

def test_free_space_check_uses_the_floor_from_the_environment(store, root, monkeypatch):
    """No mocks: a floor above the real free space refuses, a small one lets the write through."""
    free_mib = free_bytes(root) // 2**20
    before = snapshot(store)
    monkeypatch.setenv(MIN_FREE_ENV, str(free_mib + 10**6))
    with pytest.raises(StoreFullError, match=rf"collection 'c' in .*: only \d+ MiB free on its disk but writing 2 "
                                             rf"documents needs \d+ MiB \(4 x 0.0 MiB of data \+ a {free_mib + 10**6} "
                                             rf"MiB floor, {MIN_FREE_ENV}\); the refused write stored nothing.*"
                                             r"`lightretriever index … --resume` continues"):
        write(store, good_docs("new", 2))
    with pytest.raises(StoreFullError, match="creating the collection needs"):
        QdrantHybridStore(root, collection="other", schema=SCHEMA)
    with pytest.raises(StoreFullError, match="merging segments needs"):
        store.optimize()
    assert snapshot(store) == before
    store.close()
    with QdrantHybridStore(root, collection="c", schema=SCHEMA) as s:  # opening needs at most 16 MiB
        assert snapshot(s) == before
        monkeypatch.setenv(MIN_FREE_ENV, "1")
        write(s, good_docs("new", 2))
        assert s.count() == before[0] + 2


@pytest.mark.parametrize("value", ["lots", "-5", "nan"])
def test_a_bad_floor_setting_is_an_argument_error(root, monkeypatch, value):
    monkeypatch.setenv(MIN_FREE_ENV, value)
    with pytest.raises(InvalidArgumentError, match=rf"{MIN_FREE_ENV}='{value}' must be a number of MiB >= 0"):
        QdrantHybridStore(root, collection="c", schema=SCHEMA)


@pytest.fixture
def tmpfs(tmp_path):
    """A real small file system: `mount(size_mb)` mounts a tmpfs and returns its directory; unmounted after."""
    mounted = []

    def mount(size_mb: int) -> Path:
        where = tmp_path / f"tmpfs{len(mounted)}"
        where.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip() or result.returncode}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


FILL_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from lightretriever.components.errors import StoreFullError
    from lightretriever.components.sparse import SparseVector
    from lightretriever.components.store import CollectionSchema, QdrantHybridStore, StoredDocument

    schema = CollectionSchema(dense_dim=384, vocab_size=30522, document_fingerprint="A")
    rng = np.random.default_rng(0)
    try:
        store = QdrantHybridStore(sys.argv[1], collection="c", schema=schema)
    except StoreFullError as exc:
        print("refused at open:", exc)
        sys.exit(0)
    try:
        for batch in range(100000):
            docs = [StoredDocument(f"d{batch}-{i}", "x" * 5000) for i in range(64)]
            store.upsert(docs, rng.random((64, 384)), [SparseVector(np.arange(50), np.ones(50, np.float32))] * 64)
    except StoreFullError as exc:
        print("refused at write:", exc)
    print("count", store.count())
    store.close()
""")


def run_fill(where: Path, floor_mb: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop(MIN_FREE_ENV, None)
    if floor_mb is not None:
        env[MIN_FREE_ENV] = floor_mb
    return subprocess.run([sys.executable, "-c", FILL_SCRIPT, str(where)], capture_output=True, text=True, env=env,
                          timeout=600)


def test_creating_a_collection_on_a_small_disk_is_refused_not_a_crash(tmpfs):
    """Before: SIGBUS (exit code 135) as the engine allocated its WAL in an 8 MiB file system."""
    where = tmpfs(8)
    result = run_fill(where, None)
    assert result.returncode not in (135, -7), "the process died of SIGBUS"
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused at open: collection 'c' in" in result.stdout
    assert "MiB free on its disk but creating the collection needs 128 MiB" in result.stdout
    assert list(where.iterdir()) == []  # the refused create left nothing


def test_filling_the_disk_while_writing_is_refused_and_everything_written_survives(tmpfs):
    where = tmpfs(96)
    result = run_fill(where, "32")
    assert result.returncode not in (135, -7), "the process died of SIGBUS"
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused at write: collection 'c' in" in result.stdout
    assert "a 32 MiB floor" in result.stdout and "--resume" in result.stdout
    written = int(result.stdout.split("count")[-1])
    assert written > 0 and written % 64 == 0  # whole batches only
    env_floor = os.environ.pop(MIN_FREE_ENV, None)
    try:
        with QdrantHybridStore(where, collection="c") as s:  # opens with the disk nearly full, reads it all
            assert s.count() == written
            assert len(s.search(np.ones(384), None, k=5)) == 5
    finally:
        if env_floor is not None:
            os.environ[MIN_FREE_ENV] = env_floor


def test_a_completely_full_disk_is_a_store_full_error_even_with_the_check_off(tmpfs):
    """Floor 0 turns the check off; writing the collection record then fails with ENOSPC, which is a
    StoreFullError too (before: a raw OSError), and the refused create leaves nothing behind."""
    where = tmpfs(8)
    with open(where / "ballast", "wb") as ballast:
        try:
            while True:
                ballast.write(b"\0" * 2**16)
                ballast.flush()
        except OSError:
            pass
    script = textwrap.dedent("""
        import sys
        from lightretriever.components.errors import StoreFullError
        from lightretriever.components.store import CollectionSchema, QdrantHybridStore
        schema = CollectionSchema(dense_dim=4, vocab_size=10, document_fingerprint="A")
        try:
            QdrantHybridStore(sys.argv[1], collection="c", schema=schema).close()
            print("opened")
        except StoreFullError as exc:
            print("refused:", exc)
    """)
    env = {**os.environ, MIN_FREE_ENV: "0"}
    result = subprocess.run([sys.executable, "-c", script, str(where)], capture_output=True, text=True, env=env)
    assert result.returncode not in (135, -7), "the process died of SIGBUS"
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused: collection 'c' in" in result.stdout
    assert "the disk is full (writing lightretriever-collection.json: [Errno 28] No space left" in result.stdout
    assert sorted(p.name for p in where.iterdir()) == ["ballast"]


@pytest.mark.slow
def test_cli_index_on_a_full_disk_exits_2_with_one_line(tiny_llama_artifact, tmpfs, tmp_path):
    where = tmpfs(8)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "a", "text": "the cell"}) + "\n")
    result = run_cli("index", str(tiny_llama_artifact.root), "--corpus", str(corpus), "--store", str(where),
                     "--collection", "c", check=False)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "MiB free on its disk but creating the collection needs" in errors[0]


def test_search_refuses_meaningless_k_prefetch_and_non_finite_query_vectors(tmp_path):
    schema = CollectionSchema(dense_dim=4, vocab_size=50, document_fingerprint="f")
    with QdrantHybridStore(tmp_path, collection="c", schema=schema) as store:
        store.upsert([StoredDocument(id="a", text="a")], np.eye(4, dtype=np.float32)[:1],
                     [SparseVector(np.array([3]), np.array([1.0], dtype=np.float32))])
        query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
        for bad in ({"k": 0}, {"k": 2.5}, {"k": True}, {"k": "3"}, {"prefetch": 0}):
            with pytest.raises(InvalidArgumentError, match=f"{next(iter(bad))}="):
                store.search(query, None, mode="dense", **bad)
        with pytest.raises(InvalidArgumentError, match="NaN or infinite"):
            store.search(np.array([np.nan, 0, 0, 1], dtype=np.float32), None, mode="dense")
        assert [h.id for h in store.search(query, None, mode="dense", k=1)] == ["a"]
