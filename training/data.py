"""Training data: BEIR directories and JSONL triples, turned into (query, positives, negatives) examples.

Two inputs are accepted by `inputs.load_training_data`:
    a BEIR directory   corpus.jsonl[.gz] ({"_id", "title", "text"}), queries.jsonl ({"_id", "text"}),
                       qrels/<split>.tsv (header "query-id<TAB>corpus-id<TAB>score"); BM25 hard negatives
                       are mined from the corpus (negatives.py; inputs.py joins the two)
    a triples file     JSONL[.gz], one {"query", "positive" | "positives", "negatives"?} per line; a passage
                       is a string or {"title"?, "text"}
Documents are `StoredDocument`s (components/document.py, the one document type): their text is
"title text" (the BEIR/MTEB convention, `encoder_text`), so the model trains on exactly what it will
encode at index time.
Malformed lines stop the run with file:line: a silently dropped example is a silent change to training.

The corpus is read by `components/corpus.py`, the reader of `index`, `evaluate` and `adapt`, with its
default fields and rules: one rule for both sides, so a corpus that indexes also trains (and "id"/"contents"
corpora are accepted here too). Its bad lines are `CorpusError`s (an id 1.0 is refused, as in `index`);
queries, qrels and triples raise `TrainingDataError`. Both are LightRetrieverError and ValueError, which is
what the callers catch.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


from lightretriever.components import beir
from lightretriever.components.corpus import numbered_documents
from lightretriever.components.document import StoredDocument
from lightretriever.components.errors import CorpusError, LightRetrieverError
from lightretriever.components.jsonl import json_object, numbered_lines
from lightretriever.components.progress import track


class TrainingDataError(LightRetrieverError, ValueError):
    """Training data is missing a file, or a line of it cannot be read."""


@dataclass
class BeirSplit:
    """One split of a BEIR directory read whole into memory, to learn from (`read_beir`). The evaluation's
    `pipelines/beir.BeirDataset` streams the same layout (components/beir.py) into a store instead."""

    name: str                               # the directory's name
    corpus: dict[str, StoredDocument]
    queries: dict[str, str]                 # every query in queries.jsonl, whatever the split
    qrels: dict[str, dict[str, int]]        # of `split` only: query id -> {doc id: relevance}
    split: str


@dataclass
class TrainExample:
    query: str
    positives: list[str]                    # document texts (encoder_text)
    negatives: list[str]                    # hard negative texts; may be empty
    query_id: str | None = None


# ---------------------------------------------------------------------------------------------- files


def _jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    """Yields ("file:line", object) for every non-blank line of queries or triples (the corpus has its
    own reader); a bad line raises with its location."""
    for number, line in numbered_lines(path, TrainingDataError):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        yield where, json_object(line, where, TrainingDataError)


def _string_field(record: dict, key: str, where: str) -> str:
    value = record.get(key)
    if value is None:
        raise TrainingDataError(f"{where}: no {key!r} field; every line needs one")
    if isinstance(value, (int, float)) and key == "_id":
        return str(value)  # numeric ids appear in some BEIR exports
    if not isinstance(value, str):
        raise TrainingDataError(f"{where}: {key!r} is {type(value).__name__}, not a string")
    return value


# ---------------------------------------------------------------------------------------------- BEIR


def read_beir(directory: str | Path, split: str = "train", *, show_progress: bool = False) -> BeirSplit:
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise TrainingDataError(f"BEIR directory {directory} does not exist (expected corpus.jsonl, queries.jsonl, qrels/)")
    qrels_path = _qrels_path(directory, split)  # checked first: a wrong split should fail before a long corpus read
    return BeirSplit(name=directory.name, corpus=_documents_by_id(_corpus_path(directory), show_progress),
                       queries=_read_beir_queries(directory / beir.QUERIES_NAME), qrels=read_qrels(qrels_path),
                       split=split)


def _corpus_path(directory: Path) -> Path:
    found = beir.find_corpus(directory)
    if found is not None:
        return found
    raise TrainingDataError(f"{directory} has no corpus.jsonl or corpus.jsonl.gz; is it a BEIR dataset directory?")


def _qrels_path(directory: Path, split: str) -> Path:
    path = beir.qrels_file(directory, split)
    if path.is_file():
        return path
    available = beir.splits(directory)
    raise TrainingDataError(f"{path} does not exist; available splits in {directory / 'qrels'}: "
                            f"{', '.join(available) or 'none'}; pass one of them as the split")


def _documents_by_id(path: Path, show_progress: bool) -> dict[str, StoredDocument]:
    """The whole corpus by id. Training refuses what `index` tolerates (a repeated id: the last line wins
    there): a qrel or a mined negative would silently point at whichever of the two came last."""
    corpus: dict[str, StoredDocument] = {}
    lines = track(numbered_documents(path), desc="Reading corpus", unit="doc", enabled=show_progress)
    for number, document in lines:
        if document.id in corpus:
            raise CorpusError(f"{path}:{number}: document id {document.id!r} appears twice; ids must be unique "
                              "for training: remove or rename the repeated document")
        corpus[document.id] = document
    if not corpus:
        raise CorpusError(f"{path} holds no documents; a BEIR corpus needs one JSON object per line")
    return corpus


def _read_beir_queries(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise TrainingDataError(f"{path} does not exist; a BEIR directory needs queries.jsonl")
    return {_string_field(record, "_id", where): _string_field(record, "text", where) for where, record in _jsonl(path)}


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """BEIR qrels (components/beir.py), query id -> {doc id: relevance}; a bad line is a TrainingDataError."""
    return beir.read_qrels(path, TrainingDataError)


def examples_from_beir(dataset: BeirSplit, negatives: dict[str, list[str]] | None = None,
                       min_relevance: int = 1) -> list[TrainExample]:
    """One example per query with a qrel >= min_relevance, in qrels order.

    Negatives are the texts of `negatives[query_id]`, minus every judged document (any relevance > 0,
    also those below min_relevance: partly relevant is not negative) and any text equal to a positive's.
    """
    negatives = negatives or {}
    examples, skipped, missing_docs = [], 0, 0
    for query_id, judged in dataset.qrels.items():
        positive_ids = [d for d, rel in judged.items() if rel >= min_relevance]
        missing_docs += sum(d not in dataset.corpus for d in positive_ids)
        positive_ids = [d for d in positive_ids if d in dataset.corpus]
        if not positive_ids or query_id not in dataset.queries:
            skipped += 1
            continue
        positives = [dataset.corpus[d].encoder_text() for d in positive_ids]
        excluded = {d for d, rel in judged.items() if rel > 0}
        examples.append(TrainExample(query=dataset.queries[query_id], positives=positives, query_id=query_id,
                                     negatives=_negative_texts(dataset, query_id, negatives.get(query_id, []),
                                                               excluded, set(positives))))
    _warn_skipped(dataset, skipped, missing_docs, min_relevance)
    return examples


def _negative_texts(dataset: BeirSplit, query_id: str, doc_ids: list[str], excluded: set[str],
                    positive_texts: set[str]) -> list[str]:
    texts = []
    for doc_id in doc_ids:
        if doc_id not in dataset.corpus:
            raise TrainingDataError(f"negative {doc_id!r} of query {query_id!r} is not in the {dataset.name} corpus; "
                                    "mine negatives on the same corpus")
        text = dataset.corpus[doc_id].encoder_text()
        if doc_id not in excluded and text not in positive_texts:
            texts.append(text)
    return texts


def _warn_skipped(dataset: BeirSplit, skipped: int, missing_docs: int, min_relevance: int) -> None:
    # one summary, not one warning per query: BEIR splits routinely hold a few such queries
    if skipped or missing_docs:
        warnings.warn(f"{dataset.name}/{dataset.split}: skipped {skipped} of {len(dataset.qrels)} queries without a "
                      f"positive (relevance >= {min_relevance}, text in queries.jsonl, document in the corpus); "
                      f"{missing_docs} judged documents are missing from the corpus", stacklevel=3)


# ---------------------------------------------------------------------------------------------- triples


def read_triples(path: str | Path) -> list[TrainExample]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise TrainingDataError(f"training file {path} does not exist")
    return [_triple(record, where) for where, record in _jsonl(path)]


def _triple(record: dict, where: str) -> TrainExample:
    query = record.get("query")
    if not isinstance(query, str) or not query.strip():
        raise TrainingDataError(f"{where}: no \"query\" string")
    positives = _passages(record.get("positives", record.get("positive")), "positive", where)
    if not positives:
        raise TrainingDataError(f"{where}: no positive; add \"positive\": \"text\" or \"positives\": [...]")
    query_id = record.get("query_id")
    return TrainExample(query=query, positives=positives, negatives=_passages(record.get("negatives"), "negative", where),
                        query_id=None if query_id is None else str(query_id))


def _passages(value, role: str, where: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [_passage(item, role, where) for item in items]


def _passage(item, role: str, where: str) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        title = item.get("title") or ""
        return StoredDocument(id="", title=str(title), text=item["text"]).encoder_text()
    raise TrainingDataError(f"{where}: a {role} must be a string or an object with a \"text\" string, "
                            f"got {json.dumps(item)[:80]}")


# ---------------------------------------------------------------------------------------------- sampling


def sample_group(example: TrainExample, n_negatives: int, rng: random.Random) -> tuple[str, list[str]]:
    """One positive at random and `n_negatives` negatives (the collator's view of an example).

    Negatives are drawn without replacement; with fewer than `n_negatives` available, every one is used once
    and the rest are drawn with replacement (so the group keeps its size). No negatives -> [] (the caller
    relies on in-batch negatives only).
    """
    if not example.positives:
        raise TrainingDataError(f"training example {example.query_id or example.query[:60]!r} has no positive")
    positive = rng.choice(example.positives)
    if n_negatives <= 0 or not example.negatives:
        return positive, []
    if len(example.negatives) >= n_negatives:
        return positive, rng.sample(example.negatives, n_negatives)
    negatives = rng.sample(example.negatives, len(example.negatives))
    return positive, negatives + rng.choices(example.negatives, k=n_negatives - len(negatives))
