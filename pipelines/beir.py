"""A BEIR-layout dataset directory: `corpus.jsonl[.gz]`, `queries.jsonl`, `qrels/<split>.tsv`.

The layout and the qrels reader are components/beir.py's (shared with training's reader). A score
of 0 is a judged non-relevant document: it is kept in the qrels, and a query is evaluated only if it
has at least one document with a score above 0 (a query without one has no defined nDCG).

A subsample (`write_subsample`, evaluate's `--max-documents N`) keeps every document the evaluated queries
judge (relevant or not, so that no judged document goes missing from the rankings) plus documents drawn
at random with a fixed seed from the rest, up to N in all: the same N, seed and queries give the same
documents, and its collection name carries N, the seed and a digest of the ids, so it never mixes with
the full corpus's collection. Scores on a subsample are higher than on the full corpus (fewer
distractors): it is for quick checks, not for comparison with published numbers.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lightretriever.components import beir
from lightretriever.components.corpus import count_documents, numbered_documents, read_corpus
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


@dataclass(frozen=True)
class Subsample:
    """A seeded document subsample written as its own corpus file (see the module docstring)."""
    corpus: Path
    max_documents: int
    seed: int
    judged: int  # judged documents of the evaluated queries found in the corpus (all kept)
    documents: int  # judged + random others
    corpus_documents: int
    digest: str  # of the sorted ids: two subsamples with the same name hold the same documents

    @property
    def tag(self) -> str:
        """The collection-name part: N, the seed and the ids' digest."""
        return f"max{self.max_documents}-seed{self.seed}-{self.digest}"

    def record(self) -> dict:
        """What a results file keeps of the subsample."""
        return {"max_documents": self.max_documents, "seed": self.seed, "judged": self.judged,
                "random": self.documents - self.judged, "documents": self.documents,
                "corpus_documents": self.corpus_documents, "ids_sha256": self.digest}


def write_subsample(data: BeirDataset, judged: set[str], max_documents: int, seed: int,
                    directory: Path) -> Subsample:
    """Every document id in `judged`, plus random others (random.Random(seed)) up to `max_documents`, copied
    line for line in corpus order to `directory`/corpus.jsonl."""
    numbers: dict[str, list[int]] = {}  # a repeated id keeps all its lines: the last one wins, as in index
    for number, document in numbered_documents(data.corpus):
        numbers.setdefault(document.id, []).append(number)
    kept = [i for i in numbers if i in judged]
    if len(kept) > max_documents:
        raise DatasetError(f"--max-documents {max_documents} is below the {len(kept)} documents the evaluated "
                           f"queries judge in {data.corpus}; pass at least {len(kept)}, or fewer --max-queries")
    others = sorted(i for i in numbers if i not in judged)
    chosen = set(kept) | set(random.Random(seed).sample(others, min(len(others), max_documents - len(kept))))
    lines = {n for i in chosen for n in numbers[i]}
    corpus = directory / "corpus.jsonl"
    with corpus.open("w", encoding="utf-8") as out:
        for number, line in numbered_lines(data.corpus, DatasetError):
            if number in lines:
                out.write(line.rstrip("\r\n") + "\n")
    digest = hashlib.sha256("\n".join(sorted(chosen)).encode()).hexdigest()[:10]
    return Subsample(corpus=corpus, max_documents=max_documents, seed=seed, judged=len(kept), documents=len(chosen),
                     corpus_documents=len(numbers), digest=digest)
