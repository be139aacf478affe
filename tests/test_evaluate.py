"""`evaluate`: trec_eval metrics (pytrec_eval) checked by hand and against ranx, the BEIR reader (CRLF qrels,
split filter, errors), and end-to-end runs on a 64-document SciFact slice with the real MiniLM artifact: all five
modes, the JSON shape and numbers, a second run that reuses the collection, and the command line's light modes,
which load no torch.

The slice is small because document encoding runs at ~3-6 documents/s on the 2-core test machine."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import shutil
from math import log2
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from lightretriever.components.store.fusion import DEFAULT_FUSION
from lightretriever.pipelines.beir import BeirDataset, DatasetError, read_qrels, write_subsample
from lightretriever.pipelines import evaluate as evaluate_module
from lightretriever.pipelines.evaluate import MODES, EvaluationError, evaluate, parse_modes
from lightretriever.pipelines.metrics import rank_scores, relevant_qrels, retrieval_metrics
from lightretriever.training.teacher_text import full_query_text, teacher_query_texts

SCIFACT = Path(__file__).resolve().parents[1] / "data" / "scifact"
N_QUERIES, N_DOCS = 20, 64

# -- metrics --------------------------------------------------------------------------------------
# Graded judgments (d3 is judged NOT relevant: score 0) and rankings with known ranks.
QRELS = {"q1": {"d1": 2, "d2": 1, "d3": 0}, "q2": {"d4": 1}, "q3": {"d5": 1, "d6": 1}, "q4": {"d7": 1}}
RANKINGS = {
    "q1": ["d3", "d1", "x1", "d2"],                    # relevant at ranks 2 (gain 2) and 4 (gain 1)
    "q2": [f"x{i}" for i in range(1, 11)] + ["d4"],    # the only relevant one at rank 11: outside every @10
    "q3": ["d6", "x1", "x2"],                          # one of two relevant, at rank 1
    "q4": [],                                          # nothing retrieved
    "q9": ["d1"],                                      # not in the qrels: ignored
}
# nDCG@10 with linear gain (trec_eval, BEIR): DCG = sum rel / log2(rank + 1), IDCG = the ideal order's DCG
NDCG_Q1 = (2 / log2(3) + 1 / log2(5)) / (2 / log2(2) + 1 / log2(3))   # (1.261860 + 0.430677) / 2.630930
NDCG_Q3 = (1 / log2(2)) / (1 / log2(2) + 1 / log2(3))                 # 1 / 1.630930


def test_metrics_by_hand():
    scores = retrieval_metrics(relevant_qrels(QRELS), RANKINGS)
    assert NDCG_Q1 == pytest.approx(0.6433224, abs=1e-7) and NDCG_Q3 == pytest.approx(0.6131472, abs=1e-7)
    assert scores["ndcg@10"] == pytest.approx((NDCG_Q1 + 0 + NDCG_Q3 + 0) / 4, abs=1e-9)  # 0.3141174
    assert scores["recall@100"] == pytest.approx((2 / 2 + 1 / 1 + 1 / 2 + 0) / 4, abs=1e-9)  # 0.625
    assert scores["mrr@10"] == pytest.approx((1 / 2 + 0 + 1 / 1 + 0) / 4, abs=1e-9)  # 0.375


@pytest.mark.slow
def test_metrics_agree_with_ranx():
    """The second library: ranx (numba), fed the same judgments and rank-only scores."""
    from ranx import Qrels, Run, evaluate as ranx_evaluate

    judged = relevant_qrels(QRELS)
    ours = retrieval_metrics(judged, RANKINGS)
    run = rank_scores({q: RANKINGS[q] for q in judged})
    theirs = ranx_evaluate(Qrels(judged), Run(run), ["ndcg@10", "recall@100", "mrr@10"], make_comparable=True)
    for metric in ("ndcg@10", "recall@100", "mrr@10"):
        assert ours[metric] == pytest.approx(float(theirs[metric]), abs=1e-6), metric


def test_metrics_reject_unknown_names_and_empty_qrels():
    with pytest.raises(ValueError, match="unknown metric"):
        retrieval_metrics(relevant_qrels(QRELS), RANKINGS, metrics=("map",))
    with pytest.raises(ValueError, match="nothing to evaluate"):
        retrieval_metrics({}, RANKINGS)
    assert retrieval_metrics(relevant_qrels(QRELS), {}) == {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}


def test_rank_scores_keep_the_given_order_even_for_ties():
    assert rank_scores({"q": ["b", "a", "c"], "empty": []}) == {"q": {"b": 3.0, "a": 2.0, "c": 1.0}}


# -- the dataset reader ---------------------------------------------------------------------------

def write_beir(root: Path, qrels_lines: list[str], queries: dict[str, str], docs: list[dict],
               split: str = "test") -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "qrels" / f"{split}.tsv").write_bytes(("query-id\tcorpus-id\tscore\r\n"
                                                   + "".join(line + "\r\n" for line in qrels_lines)).encode())
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    return root


def test_qrels_with_crlf_and_the_split_filter(tmp_path):
    data = BeirDataset.open(write_beir(
        tmp_path / "Toy", ["1\tA\t1", "1\tB\t0", "2\tC\t0", "3\tA\t2"],
        {"1": "first", "2": "only judged irrelevant", "3": "third", "4": "another split's query"},
        [{"_id": "A", "title": "", "text": "a"}]))
    qrels = data.qrels("test")
    assert qrels == {"1": {"A": 1, "B": 0}, "2": {"C": 0}, "3": {"A": 2}}  # no "\r" left in any score or id
    assert data.split_queries(qrels) == {"1": "first", "3": "third"}  # 2: nothing relevant; 4: not in the split
    assert data.split_queries(qrels, limit=1) == {"1": "first"}
    assert relevant_qrels(qrels, ["1", "3"]) == {"1": {"A": 1}, "3": {"A": 2}}
    assert data.name == "toy" and data.splits() == ["test"] and data.document_count() == 1


def test_scifact_qrels_read_with_crlf():
    qrels = read_qrels(SCIFACT / "qrels" / "test.tsv")
    assert len(qrels) == 300 and sum(len(v) for v in qrels.values()) == 339
    assert all(score == 1 for judged in qrels.values() for score in judged.values())


def test_bad_qrels_and_query_lines_are_dataset_errors_with_file_and_line(tmp_path):
    # one qrels / JSONL reader with training (components/beir.py, jsonl.py), each layer's error type
    root = write_beir(tmp_path / "d", ["1\tA\t1", "1\tA\tyes"], {"1": "q"}, [{"_id": "A", "text": "a"}])
    with pytest.raises(DatasetError, match=r"test\.tsv:3: score 'yes' is not an integer"):
        BeirDataset.open(root).qrels("test")
    (root / "queries.jsonl").write_bytes(b'{"_id": "1", "text": "caf\xe9"}\n')
    with pytest.raises(DatasetError, match=r"queries\.jsonl:1: byte 0xe9 .* is not UTF-8"):
        BeirDataset.open(root).queries()


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(EvaluationError, match=r"unknown mode 'bm42'.*full, dense, sparse, hybrid, bm25"):
        parse_modes("full,bm42")
    assert parse_modes(" Dense, bm25,dense ") == ["dense", "bm25"]
    root = write_beir(tmp_path / "d", ["1\tA\t1"], {"1": "q"}, [{"_id": "A", "text": "a"}])
    with pytest.raises(DatasetError, match=r"no 'dev' split \(available: test\); pass --split"):
        BeirDataset.open(root).qrels("dev")
    (root / "corpus.jsonl").unlink()
    with pytest.raises(DatasetError, match=r"has no corpus: expected corpus.jsonl or corpus.jsonl.gz"):
        BeirDataset.open(root)
    with pytest.raises(EvaluationError, match="unknown fusion 'max'"):
        evaluate("no/artifact/needed", root, fusion="max")
    bad = run_cli("evaluate", "no/artifact", "--dataset", str(root), "--modes", "dense,colbert", check=False)
    assert bad.returncode == 2 and "unknown mode 'colbert'" in bad.stderr and "Traceback" not in bad.stderr


def test_full_mode_reads_the_query_after_the_table_instruction(tiny_llama_artifact):
    assert tiny_llama_artifact.table_spec().instruction == "results of the study on"
    assert teacher_query_texts(tiny_llama_artifact, [" cancer risk "]) == ["results of the study on cancer risk"]
    assert full_query_text("", " cancer risk ") == "cancer risk"  # no instruction: the plain query


class _RecordingTokenizer:
    def __init__(self):
        self.texts: list[str] = []

    def encode_batch(self, texts, add_special_tokens):
        self.texts = list(texts)
        return [type("Encoding", (), {"ids": [1, 2]})() for _ in texts]


class _Encoded(Exception):
    """Raised by the timed forward pass: the texts are tokenised by then, the search is not this test's."""


class _WarmUpOnlyEncoder:
    dim = 4

    def __init__(self):
        self._tokenizer = _RecordingTokenizer()
        self.passes = 0

    def encode_ids(self, ids, with_sparse):
        self.passes += 1
        if self.passes > 1:
            raise _Encoded
        return (np.zeros((len(ids), self.dim), dtype=np.float32),)


def test_full_mode_encodes_the_text_training_s_teacher_encodes(tiny_llama_artifact, monkeypatch):
    # the drift this guards: with an instruction ending in a space, `full` once read "Query:  q", the teacher "Query: q"
    import lightretriever.pipelines.evaluate as evaluation
    import lightretriever.training.table_only as table_only

    spec = dataclasses.replace(tiny_llama_artifact.table_spec(), instruction="Query: ")
    monkeypatch.setattr(tiny_llama_artifact, "table_spec", lambda name=None: spec)
    queries = [" cancer risk ", "statins"]
    taught: list[str] = []

    def record_teacher(base, texts, **options):
        taught.extend(texts)
        return type("Vectors", (), {"lookup": lambda self, t: [np.zeros(2)] * len(t)})()

    monkeypatch.setattr(table_only.DocumentVectors, "compute", record_teacher)
    table_only.teacher_vectors(tiny_llama_artifact, spec.instruction, queries, show_progress=False)

    context = evaluation._Context(tiny_llama_artifact, ["1", "2"], queries, 8, None, False)
    encoder = context._document_encoder = _WarmUpOnlyEncoder()
    with pytest.raises(_Encoded):
        evaluation.run_full(context, "full", DEFAULT_FUSION)
    assert encoder._tokenizer.texts == taught == ["Query: cancer risk", "Query: statins"]


# -- the --max-documents subsample and the indexing cost ---------------------------------------------

def toy_corpus(tmp_path: Path, documents: int = 30) -> BeirDataset:
    """q1 judges d3 (relevant) and d7 (not), q2 judges d12; d5 appears twice (the last line wins in index)."""
    docs = [{"_id": f"d{i}", "title": "", "text": f"text {i}"} for i in range(documents)]
    docs.append({"_id": "d5", "title": "", "text": "d5 again"})
    return BeirDataset.open(write_beir(tmp_path / "Toy", ["q1\td3\t1", "q1\td7\t0", "q2\td12\t2"],
                                       {"q1": "one", "q2": "two"}, docs))


def subsample_ids(subsample) -> list[str]:
    return [json.loads(line)["_id"] for line in subsample.corpus.read_text().splitlines()]


def test_subsample_keeps_every_judged_document_and_is_seeded(tmp_path):
    data = toy_corpus(tmp_path)
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        (tmp_path / name).mkdir()
        runs[name] = write_subsample(data, {"d3", "d7", "d12", "absent"}, 10, seed, tmp_path / name)
    a = runs["a"]
    ids = subsample_ids(a)
    assert {"d3", "d7", "d12"} <= set(ids) and len(set(ids)) == 10  # "absent" is not in the corpus: ignored
    assert ids == sorted(ids, key=lambda i: (int(i[1:]), ids.index(i)))  # corpus order, line for line
    assert a.record() == {"max_documents": 10, "seed": 0, "judged": 3, "random": 7, "documents": 10,
                          "corpus_documents": 30, "ids_sha256": a.digest}
    assert subsample_ids(runs["b"]) == ids and runs["b"].tag == a.tag == f"max10-seed0-{a.digest}"
    assert set(subsample_ids(runs["c"])) != set(ids) and runs["c"].tag != a.tag  # another seed, other documents
    (tmp_path / "all").mkdir()
    everything = write_subsample(data, {"d3"}, 1000, 0, tmp_path / "all")  # N above the corpus: all of it
    assert everything.documents == 30 and subsample_ids(everything).count("d5") == 2


def test_subsample_smaller_than_the_judged_documents_names_the_minimum(tmp_path):
    with pytest.raises(DatasetError, match=r"--max-documents 2 is below the 3 documents .* pass at least 3"):
        write_subsample(toy_corpus(tmp_path), {"d3", "d7", "d12"}, 2, 0, tmp_path)
    with pytest.raises(EvaluationError, match="max_documents=0 must be at least 1"):
        evaluate("unused", tmp_path / "Toy", max_documents=0)


class _TimedEncoder:
    """Stands in for the full model: 100 documents/s after its first (warm-up) call."""

    def __init__(self):
        self.calls: list[int] = []

    def encode(self, texts, show_progress=False):
        self.calls.append(len(texts))
        import time

        time.sleep(0 if len(self.calls) == 1 else len(texts) / 100)


def test_indexing_cost_is_printed_with_the_max_documents_hint(tmp_path, capsys):
    data, encoder = toy_corpus(tmp_path), _TimedEncoder()
    context = evaluate_module._Context(None, [], [], 8, None, True)
    context.document_encoder = lambda: encoder
    evaluate_module._say_indexing_cost(context, data.corpus, 720_000, hint=True)
    said = capsys.readouterr().err
    assert encoder.calls == [2, evaluate_module.COST_SAMPLE]  # one untimed warm-up, then the timed sample
    rate = float(said.split(" at ")[1].split(" documents/s")[0])
    assert 60 < rate <= 100.0 and "720,000 documents to encode" in said and " h at " in said and "--max-documents N" in said
    evaluate_module._say_indexing_cost(context, data.corpus, 300, hint=False)
    said = capsys.readouterr().err
    assert " s at " in said and "--max-documents" not in said


# -- end to end -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_scifact(tmp_path_factory) -> Path:
    """The first 20 SciFact test queries, their relevant abstracts plus others up to 64, BEIR layout
    (all queries copied: the split filter has to pick the 20; qrels keep SciFact's CRLF endings)."""
    lines = (SCIFACT / "qrels" / "test.tsv").read_bytes().decode().split("\r\n")[1:]
    rows = [line.split("\t") for line in lines if line]
    chosen = list(dict.fromkeys(q for q, _, _ in rows))[:N_QUERIES]
    kept = [r for r in rows if r[0] in chosen]
    relevant = {d for _, d, _ in kept}
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        corpus = [json.loads(line) for line in handle]
    docs = [d for d in corpus if d["_id"] in relevant]
    docs += [d for d in corpus if d["_id"] not in relevant][: N_DOCS - len(docs)]
    root = write_beir(tmp_path_factory.mktemp("beir") / "SciFact-Tiny", ["\t".join(r) for r in kept], {}, docs)
    shutil.copy(SCIFACT / "queries.jsonl", root / "queries.jsonl")
    return root


@pytest.fixture(scope="module")
def first_run(minilm_artifact, tiny_scifact, tmp_path_factory):
    store = tmp_path_factory.mktemp("stores")
    return store, evaluate(minilm_artifact, tiny_scifact, store=store, show_progress=False)


RESULT_KEYS = {"ndcg@10", "recall@100", "mrr@10", "retention", "encode_s", "search_s", "qps"}


@pytest.mark.slow
def test_all_modes_end_to_end(first_run, minilm_artifact):
    store, result = first_run
    fingerprint = minilm_artifact.document_fingerprint()
    assert (result["dataset"], result["split"], result["artifact"]) == ("scifact-tiny", "test", str(minilm_artifact.root))
    assert result["collection"] == f"scifact-tiny-{fingerprint}" and result["store"] == str(store)
    assert result["queries"] == N_QUERIES and result["documents"] == N_DOCS
    assert result["index"] == {**result["index"], "count_before": 0, "written": N_DOCS, "count": N_DOCS}
    assert list(result["results"]) == list(MODES)
    for mode, scores in result["results"].items():
        assert RESULT_KEYS <= set(scores), mode
        assert all(0.0 <= scores[m] <= 1.0 for m in ("ndcg@10", "recall@100", "mrr@10")), (mode, scores)
        assert scores["encode_s"] > 0 and scores["search_s"] > 0 and scores["qps"] > 0 and scores["queries"] == N_QUERIES
    full = result["results"]["full"]
    assert teacher_query_texts(minilm_artifact, ["cancer risk"]) == ["cancer risk"]  # no instruction: the plain query
    # (recall@100 is 1 for the dense legs here: 64 documents, top-100)
    assert full["retention"] == 1.0 and full["ndcg@10"] > 0.6 and full["recall@100"] == 1.0
    assert result["results"]["bm25"]["ndcg@10"] > 0.6
    for mode in ("dense", "sparse", "hybrid", "bm25"):
        scores = result["results"][mode]
        assert scores["retention"] == pytest.approx(scores["ndcg@10"] / full["ndcg@10"], rel=1e-12)
    assert result["results"]["hybrid"]["fusion"] == DEFAULT_FUSION == "dbsf"  # the measured default
    stemmer = result["results"]["bm25"]["stemmer"]
    assert stemmer.startswith("PyStemmer") == (importlib.util.find_spec("Stemmer") is not None), stemmer
    assert result["machine"]["cores"] >= 1 and result["machine"]["torch_threads"] >= 1


@pytest.mark.slow
def test_second_run_reuses_the_collection(first_run, minilm_artifact, tiny_scifact):
    store, first = first_run
    second = evaluate(minilm_artifact.root, tiny_scifact, store=store, show_progress=False)
    assert second["collection"] == first["collection"]
    assert second["index"] == {**second["index"], "count_before": N_DOCS, "written": 0, "count": N_DOCS,
                               "seconds": 0.0}
    assert_same_scores(second, first, MODES)


@pytest.mark.slow
def test_command_line_light_modes_load_no_torch(first_run, minilm_artifact, tiny_scifact, tmp_path):
    store, first = first_run
    out = tmp_path / "eval.json"
    shown = run_cli("evaluate", str(minilm_artifact.root), "--dataset", str(tiny_scifact), "--store", str(store),
                    "--modes", "sparse,hybrid,bm25", "--json", str(out))
    result = json.loads(out.read_text())
    assert set(result) >= {"dataset", "split", "artifact", "results", "machine"}
    assert list(result["results"]) == ["sparse", "hybrid", "bm25"] and result["index"]["written"] == 0
    assert result["machine"]["torch_threads"] is None  # reported only when a mode loaded torch: none did
    assert all(r["retention"] is None for r in result["results"].values())  # no full run to compare with
    assert_same_scores(result, first, ["sparse", "hybrid", "bm25"])
    table = shown.stdout.splitlines()
    assert table[0].startswith(f"scifact-tiny (test, {N_QUERIES} queries, {N_DOCS} documents)")
    assert table[1].split() == ["mode", "ndcg@10", "recall@100", "mrr@10", "retention", "tokenize_s", "encode_s",
                                "search_s", "qps"]
    assert [line.split()[0] for line in table[3:6]] == ["sparse", "hybrid", "bm25"]
    assert table[3].split()[1] == f"{first['results']['sparse']['ndcg@10']:.4f}"


def assert_same_scores(result: dict, reference: dict, modes) -> None:
    """Same collection, same queries: the same rankings, so the same numbers."""
    for mode in modes:
        for metric in ("ndcg@10", "recall@100", "mrr@10"):
            assert result["results"][mode][metric] == pytest.approx(reference["results"][mode][metric], abs=1e-9)


@pytest.mark.slow
def test_max_documents_indexes_a_subsample_into_its_own_collection(first_run, minilm_artifact, tiny_scifact, capsys):
    store, full = first_run
    result = evaluate(minilm_artifact, tiny_scifact, store=store, modes="sparse,bm25", max_documents=40, seed=3)
    said = capsys.readouterr().err
    sub = result["subsample"]
    assert sub == {**sub, "max_documents": 40, "seed": 3, "documents": 40, "corpus_documents": N_DOCS}
    assert sub["judged"] + sub["random"] == 40 and full["subsample"] is None
    fingerprint = minilm_artifact.document_fingerprint()
    assert result["collection"] == f"scifact-tiny-max40-seed3-{sub['ids_sha256']}-{fingerprint}" != full["collection"]
    assert result["documents"] == 40 and result["index"] == {**result["index"], "count_before": 0, "written": 40}
    assert "indexing cost: 40 documents to encode" in said and "--max-documents N" not in said
    # fewer distractors: the subsample ranks the judged documents at least as high
    assert result["results"]["bm25"]["ndcg@10"] >= full["results"]["bm25"]["ndcg@10"] - 1e-9
