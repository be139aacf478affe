"""A BEIR-layout dataset directory: `corpus.jsonl[.gz]`, `queries.jsonl`, `qrels/<split>.tsv`.

The layout and the qrels reader are components/beir.py's (shared with training's reader). A score
of 0 is a judged non-relevant document: it is kept in the qrels, and a query is evaluated only if it
has at least one document with a score above 0 (a query without one has no defined nDCG).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lightretriever.components import beir
from lightretriever.components.corpus import count_documents, read_corpus
from lightretriever.components.document import StoredDocument
from lightretriever.components.errors import LightRetrieverError
from lightretriever.components.jsonl import json_object, numbered_lines


class DatasetError(LightRetrieverError, ValueError):
    """A dataset directory lacks a BEIR part, or a part cannot be read."""


@dataclass(frozen=True)
class BeirDataset:
    root: Path
    corpus: Path
    queries_file: Path

    @classmethod
    def open(cls, root: str | Path) -> "BeirDataset":
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"dataset directory {root} does not exist; pass a BEIR directory "
                               "(corpus.jsonl, queries.jsonl, qrels/<split>.tsv), e.g. --dataset data/scifact")
        corpus = beir.find_corpus(root)
        if corpus is None:
            raise DatasetError(f"{root} has no corpus: expected {' or '.join(beir.CORPUS_NAMES)} "
                               "(one JSON document per line: _id, title, text)")
        queries = root / beir.QUERIES_NAME
        if not queries.is_file():
            raise DatasetError(f"{root} has no queries.jsonl (one JSON query per line: _id, text)")
        return cls(root=root, corpus=corpus, queries_file=queries)

    @property
    def name(self) -> str:
        """The collection prefix: the directory name, lowercased (data/SciFact and scifact agree)."""
        return self.root.resolve().name.lower()

    def splits(self) -> list[str]:
        return beir.splits(self.root)

    def qrels(self, split: str) -> dict[str, dict[str, int]]:
        """Every judgment of the split, {query id: {document id: score}}, zeros included."""
        path = beir.qrels_file(self.root, split)
        if not path.is_file():
            available = ", ".join(self.splits()) or "none"
            raise DatasetError(f"{path} not found: the dataset has no {split!r} split (available: {available}); "
                               "pass --split NAME")
        return read_qrels(path)

    def queries(self) -> dict[str, str]:
        out = {}
        for number, line in numbered_lines(self.queries_file, DatasetError):
            if line.strip():
                record = _query_record(line, f"{self.queries_file}:{number}")
                out[str(record["_id"])] = record["text"]
        return out

    def split_queries(self, qrels: dict[str, dict[str, int]], limit: int | None = None) -> dict[str, str]:
        """The queries that have a relevant document in `qrels`, in qrels order (first `limit`)."""
        texts = self.queries()
        wanted = [q for q, judged in qrels.items() if any(score > 0 for score in judged.values())]
        missing = [q for q in wanted if q not in texts]
        if missing:
            raise DatasetError(f"{len(missing)} queries of the qrels are not in {self.queries_file} "
                               f"(first: {missing[0]!r}); the qrels and queries files do not belong together")
        return {q: texts[q] for q in wanted[:limit]}

    def documents(self) -> Iterator[StoredDocument]:
        return read_corpus(self.corpus)

    def document_count(self) -> int:
        return count_documents(self.corpus)


def _query_record(line: str, where: str) -> dict:
    record = json_object(line, where, DatasetError)
    if "_id" not in record or not isinstance(record.get("text"), str):
        raise DatasetError(f"{where}: expected a JSON object with '_id' and a 'text' string")
    return record


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """BEIR qrels (components/beir.py); a bad line is a DatasetError."""
    return beir.read_qrels(path, DatasetError)
