"""What `adapt` reads besides the corpus: a query log, relevance labels and an existing index's vectors."""

from __future__ import annotations

import json
from pathlib import Path

from lightretriever.components.errors import LightRetrieverError


class AdaptInputError(LightRetrieverError, ValueError):
    """An input of `adapt` cannot be read."""


def corpus_location(path: Path) -> tuple[Path, Path | None]:
    """(corpus file, the BEIR directory's queries.jsonl or None)."""
    if path.is_dir():
        from ..beir import BeirDataset

        data = BeirDataset.open(path)
        return data.corpus, data.queries_file
    if not path.is_file():
        raise AdaptInputError(f"corpus {path} does not exist; pass a JSONL corpus file or a BEIR directory")
    return path, None


def labelled_queries(qrels_file: str, queries: dict[str, str], beir_queries: Path | None):
    """(qrels, the labelled queries' texts, the unlabelled rest of `queries`); texts come from `queries`
    (--queries) or the BEIR directory's queries.jsonl."""
    from lightretriever.training.data import read_qrels

    qrels = read_qrels(qrels_file)
    texts = dict(read_queries(beir_queries)) if beir_queries else {}
    texts.update(queries)
    labelled = {q: texts[q] for q in qrels if q in texts}
    if not labelled:
        raise AdaptInputError(f"none of the {len(qrels)} query ids of {qrels_file} has a text: pass the queries "
                              "with --queries FILE (JSONL with _id and text), or a BEIR directory as --corpus")
    return qrels, labelled, {q: t for q, t in queries.items() if q not in qrels}


def stored_vectors_reader(store: str, collection: str | None):
    """The document vectors of an existing index, opened with the base artifact's schema: an index of
    another document encoder is refused (the fingerprint check), never silently learned from."""
    if not collection:
        raise AdaptInputError("--index needs --collection NAME (the collection the corpus was indexed into)")

    def read(artifact, ids: list[str]) -> dict:
        from lightretriever.components.store import CollectionSchema, QdrantHybridStore

        with QdrantHybridStore.from_location(store, collection, schema=CollectionSchema.from_artifact(artifact),
                                             create=False) as index:
            found: dict = {}
            for start in range(0, len(ids), 512):
                found.update({i: v["dense"] for i, v in index.get_vectors(ids[start:start + 512]).items()
                              if v.get("dense") is not None})
            return found

    return read


def read_queries(path: Path) -> dict[str, str]:
    """id -> text. JSONL lines with `_id`/`id` and `text`/`query`; other lines are a query each (id = line number)."""
    from lightretriever.components.jsonl import numbered_lines

    if not path.is_file():
        raise AdaptInputError(f"queries file {path} does not exist")
    queries: dict[str, str] = {}
    for number, line in numbered_lines(path, AdaptInputError):  # not UTF-8, a broken .gz: file:line
        line = line.strip()
        if not line:
            continue
        record = _json_object(line)
        if record is None:
            queries[str(number)] = line
            continue
        text = record.get("text", record.get("query"))
        if not isinstance(text, str):
            raise AdaptInputError(f"{path}:{number}: a JSON query needs a string `text` (or `query`) field")
        queries[str(record.get("_id", record.get("id", number)))] = text
    return queries


def _json_object(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return record if isinstance(record, dict) else None
