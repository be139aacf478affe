"""The training data layer on the real SciFact files in data/scifact (no model; about 15 s on 2 cores)."""

from __future__ import annotations

import gzip
import json
import random
import warnings
from collections import Counter
from pathlib import Path

import pytest

from lightretriever.components.document import StoredDocument
from lightretriever.components.errors import CorpusError
from lightretriever.training.data import (BeirSplit, TrainExample, TrainingDataError, examples_from_beir,
                                          read_beir, read_triples, sample_group)
from lightretriever.training.inputs import load_training_data
from lightretriever.training.negatives import mine_bm25_negatives
from lightretriever.training.pseudo_queries import KINDS, pseudo_queries

SCIFACT = Path(__file__).resolve().parents[1] / "data" / "scifact"
# counted from the files: `tail -n +2 qrels/train.tsv | cut -f1 | sort -u | wc -l` and `wc -l`
TRAIN_QUERIES, TRAIN_PAIRS, TEST_QUERIES, TEST_PAIRS = 809, 919, 300, 339


@pytest.fixture(scope="module")
def scifact() -> BeirSplit:
    return read_beir(SCIFACT, "train")


@pytest.fixture(scope="module")
def mined(scifact) -> dict[str, list[str]]:
    """10 BM25 negatives per SciFact train query (one index, shared by the mining tests)."""
    return mine_bm25_negatives(scifact.corpus, _train_queries(scifact), _positives(scifact), depth=50, n=10,
                               show_progress=False)


def _train_queries(dataset: BeirSplit) -> dict[str, str]:
    return {q: dataset.queries[q] for q in dataset.qrels}


def _positives(dataset: BeirSplit) -> dict[str, set[str]]:
    return {q: set(docs) for q, docs in dataset.qrels.items()}


def _write_beir(directory: Path, corpus_lines: list[str], qrels: str = "query-id\tcorpus-id\tscore\nq1\td1\t1\n") -> Path:
    (directory / "qrels").mkdir(parents=True)
    (directory / "corpus.jsonl").write_text("\n".join(corpus_lines) + "\n", encoding="utf-8")
    (directory / "queries.jsonl").write_text('{"_id": "q1", "text": "what is a cat"}\n', encoding="utf-8")
    (directory / "qrels" / "train.tsv").write_text(qrels, encoding="utf-8")
    return directory


def _spaced(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------- read_beir


def test_read_beir_counts_scifact(scifact):
    assert scifact.name == "scifact" and scifact.split == "train"
    assert len(scifact.corpus) == 5183
    assert len(scifact.queries) == TRAIN_QUERIES + TEST_QUERIES
    assert len(scifact.qrels) == TRAIN_QUERIES
    assert sum(len(docs) for docs in scifact.qrels.values()) == TRAIN_PAIRS
    test = read_beir(SCIFACT, "test")
    assert (len(test.qrels), sum(len(d) for d in test.qrels.values())) == (TEST_QUERIES, TEST_PAIRS)


def test_read_beir_documents_use_title_then_text(scifact):
    doc = scifact.corpus["4983"]
    assert doc.title.startswith("Microstructural development of human newborn cerebral white matter")
    assert doc.text.startswith("Alterations of the architecture of cerebral white matter")
    assert doc.encoder_text() == f"{doc.title} {doc.text}"
    assert StoredDocument("x", title="", text="body only").encoder_text() == "body only"


def test_read_beir_tolerates_crlf_qrels(scifact):
    assert b"\r\n" in (SCIFACT / "qrels" / "train.tsv").read_bytes()  # the real file really has CRLF
    judged = {doc_id for docs in scifact.qrels.values() for doc_id in docs}
    assert judged <= set(scifact.corpus)  # a trailing "\r" would make every id miss the corpus
    assert set(scifact.qrels) <= set(scifact.queries)
    assert {score for docs in scifact.qrels.values() for score in docs.values()} == {1}


def test_read_beir_missing_split_lists_available(tmp_path):
    with pytest.raises(TrainingDataError, match=r"dev\.tsv does not exist; available splits .*: test, train"):
        read_beir(SCIFACT, "dev")


def test_read_beir_bad_json_line_names_file_and_line(tmp_path):
    directory = _write_beir(tmp_path / "tiny", ['{"_id": "d1", "title": "", "text": "cats"}', "",
                                                '{"_id": "d2", "text": "dogs"', '{"_id": "d3", "text": "x"}'])
    with pytest.raises(CorpusError, match=r"tiny/corpus\.jsonl:3: not valid JSON"):
        read_beir(directory)


def test_read_beir_reads_its_corpus_with_the_rules_of_index(tmp_path):
    """One corpus reader (components/corpus.py): index's field names, meta and id rules hold in training."""
    directory = _write_beir(tmp_path / "tiny", ['{"id": 7, "contents": "cats", "lang": "en"}',
                                                '{"_id": "d1", "title": null, "text": "dogs"}'])
    corpus = read_beir(directory).corpus
    assert corpus["7"] == StoredDocument(id="7", text="cats", meta={"lang": "en"})
    assert corpus["d1"].encoder_text() == "dogs"


@pytest.mark.parametrize("lines,message", [
    (['{"_id": 1.0, "text": "x"}'], r"tiny/corpus\.jsonl:1: document id 1.0 is float"),
    (['{"_id": "d1", "text": 5}'], r"tiny/corpus\.jsonl:1: text field is int"),
    (['{"_id": "d1", "text": "a"}', '{"_id": "d1", "text": "b"}'], r"tiny/corpus\.jsonl:2: document id 'd1' "
                                                                   r"appears twice; ids must be unique for training"),
    (["", "  "], r"tiny/corpus\.jsonl holds no documents"),
])
def test_read_beir_refuses_a_bad_corpus_with_its_line(tmp_path, lines, message):
    with pytest.raises(CorpusError, match=message):
        read_beir(_write_beir(tmp_path / "tiny", lines))


def test_read_beir_bad_qrels_line_names_file_and_line(tmp_path):
    directory = _write_beir(tmp_path / "tiny", ['{"_id": "d1", "text": "cats"}'],
                            qrels="query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq1\td1\tyes\r\n")
    with pytest.raises(TrainingDataError, match=r"train\.tsv:3: score 'yes' is not an integer"):
        read_beir(directory)


# ---------------------------------------------------------------------------------------------- triples


def test_read_triples_accepts_strings_lists_and_objects(tmp_path):
    rows = [{"query": "q1", "positive": "p1"},
            {"query": "q2", "positives": ["p2a", {"text": "p2b"}], "negatives": ["n2a", {"title": "T", "text": "n2b"}]},
            {"query": "q3", "positive": {"title": "Title", "text": "body"}, "query_id": 7}]
    path = tmp_path / "triples.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert read_triples(path) == [TrainExample("q1", ["p1"], []),
                                  TrainExample("q2", ["p2a", "p2b"], ["n2a", "T n2b"]),
                                  TrainExample("q3", ["Title body"], [], query_id="7")]


def test_read_triples_without_positive_names_the_line(tmp_path):
    path = tmp_path / "triples.jsonl"
    path.write_text('{"query": "q1", "positive": "p1"}\n{"query": "q2", "negatives": ["n"]}\n', encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"triples\.jsonl:2: no positive"):
        read_triples(path)
    path.write_text('{"query": "q1", "positive": 5}\n', encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"triples\.jsonl:1: a positive must be a string"):
        read_triples(path)


# ---------------------------------------------------------------------------------------------- examples


def test_examples_from_beir_never_keeps_a_positive_among_negatives(scifact):
    # offer every query its own positives plus a few other documents as "negatives"
    others = list(scifact.corpus)[:3]
    offered = {q: list(docs) + others for q, docs in scifact.qrels.items()}
    examples = examples_from_beir(scifact, offered)
    assert len(examples) == TRAIN_QUERIES
    assert sum(len(e.positives) for e in examples) == TRAIN_PAIRS
    for example in examples:
        assert example.query == scifact.queries[example.query_id]
        assert not set(example.positives) & set(example.negatives)
        assert len(example.negatives) == 3 - sum(d in scifact.qrels[example.query_id] for d in others)


def test_examples_from_beir_skips_queries_without_positives_with_one_warning(scifact):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert examples_from_beir(scifact, min_relevance=2) == []  # SciFact's qrels are all 1
    assert len(caught) == 1 and f"skipped {TRAIN_QUERIES} of {TRAIN_QUERIES} queries" in str(caught[0].message)


# ---------------------------------------------------------------------------------------------- BM25 negatives


def test_mined_negatives_exclude_positives_and_fill_n(scifact, mined):
    assert list(mined) == list(scifact.qrels)
    assert Counter(len(ids) for ids in mined.values()) == {10: TRAIN_QUERIES}
    for query_id, ids in mined.items():
        assert not set(ids) & set(scifact.qrels[query_id])
        assert len(set(ids)) == len(ids)


@pytest.mark.slow
def test_mining_is_deterministic_and_skip_top_skips_ranks(scifact, mined):
    again = mine_bm25_negatives(scifact.corpus, _train_queries(scifact), _positives(scifact), depth=50, n=7,
                                show_progress=False)
    assert again == {q: ids[:7] for q, ids in mined.items()}  # same ranking, cut at n
    skipped = mine_bm25_negatives(scifact.corpus, _train_queries(scifact), _positives(scifact), depth=50, n=7,
                                  skip_top=3, show_progress=False)
    assert skipped == {q: ids[3:10] for q, ids in mined.items()}


def test_mining_drops_duplicate_texts_of_positives_and_unrelated_documents():
    corpus = {"pos": StoredDocument("pos", title="Cats", text="Cats purr when content."),
              "copy": StoredDocument("copy", title="cats", text="Cats  purr when content."),  # same text, other id
              "near": StoredDocument("near", title="", text="Cats sleep most of the day."),
              "far": StoredDocument("far", title="", text="Interest rates rose in March.")}
    mined = mine_bm25_negatives(corpus, {"q": "why do cats purr"}, {"q": {"pos"}}, depth=4, n=3, show_progress=False)
    assert mined == {"q": ["near"]}  # no copy of the positive, no zero-score document


@pytest.mark.slow
def test_load_training_data_mines_scifact_and_reads_triples(tmp_path):
    examples = load_training_data(SCIFACT, hard_negatives=2, show_progress=False)
    assert len(examples) == TRAIN_QUERIES
    assert all(len(e.negatives) == 2 and not set(e.negatives) & set(e.positives) for e in examples)
    triples = tmp_path / "t.jsonl"
    triples.write_text('{"query": "q", "positive": "p"}\n', encoding="utf-8")
    assert load_training_data(triples) == [TrainExample("q", ["p"], [])]
    with pytest.raises(TrainingDataError, match="does not exist"):
        load_training_data(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------- sampling


def test_sample_group_is_deterministic_and_without_replacement():
    example = TrainExample("q", ["p1", "p2"], [f"n{i}" for i in range(10)])
    first = [sample_group(example, 4, random.Random(7)) for _ in range(2)]
    assert first[0] == first[1]
    positive, negatives = first[0]
    assert positive in example.positives and len(set(negatives)) == 4 and set(negatives) <= set(example.negatives)


def test_sample_group_falls_back_to_replacement_or_in_batch():
    example = TrainExample("q", ["p"], ["n1", "n2", "n3"])
    positive, negatives = sample_group(example, 7, random.Random(0))
    assert positive == "p" and len(negatives) == 7 and set(negatives) == {"n1", "n2", "n3"}  # each used at least once
    assert sample_group(TrainExample("q", ["p"], []), 7, random.Random(0)) == ("p", [])
    assert sample_group(example, 0, random.Random(0)) == ("p", [])
    with pytest.raises(TrainingDataError, match="has no positive"):
        sample_group(TrainExample("q", [], ["n"]), 1, random.Random(0))


# ---------------------------------------------------------------------------------------------- pseudo queries


def test_pseudo_queries_on_scifact(scifact):
    queries = pseudo_queries(scifact.corpus, 3000, seed=1)
    assert len(queries) == 3000
    assert len({q.doc_id for q in queries}) == 3000  # round-robin: fewer queries than documents, one each
    kinds = Counter(q.kind for q in queries)
    assert set(kinds) == set(KINDS) and min(kinds.values()) > 800  # roughly balanced
    assert len({" ".join(q.text.split()).casefold() for q in queries}) == 3000
    assert all(4 <= len(q.text.split()) <= 32 for q in queries)
    assert all(4 <= len(q.text.split()) <= 24 for q in queries if q.kind == "span")
    for query in queries:  # cut from its own document (titles from the title, the rest from the text)
        source = scifact.corpus[query.doc_id]
        assert _spaced(query.text) in _spaced(source.title if query.kind == "title" else source.text)


def test_pseudo_queries_are_deterministic_and_cover_documents_more_than_once(scifact):
    first = pseudo_queries(scifact.corpus, 8000, seed=3, max_words=16)
    assert first == pseudo_queries(scifact.corpus, 8000, seed=3, max_words=16)
    assert first != pseudo_queries(scifact.corpus, 8000, seed=4, max_words=16)
    assert len({q.doc_id for q in first}) == len(scifact.corpus)
    assert all(len(q.text.split()) <= 16 for q in first)


def test_pseudo_queries_respect_kinds_and_run_out_gracefully():
    corpus = {"a": StoredDocument("a", title="A title of five words", text="Short. One real sentence is here. Tiny"),
              "b": StoredDocument("b", title="Hi", text="")}
    titles = pseudo_queries(corpus, 10, kinds=("title",))
    assert titles == [pseudo_queries(corpus, 1, kinds=("title",))[0]]  # "Hi" is under min_words
    sentences = pseudo_queries(corpus, 10, kinds=("sentence",))
    assert [q.text for q in sentences] == ["One real sentence is here."]
    with pytest.raises(TrainingDataError, match="unknown pseudo-query kinds"):
        pseudo_queries(corpus, 1, kinds=("question",))
