"""The BEIR directory layout: `corpus.jsonl[.gz]`, `queries.jsonl`, `qrels/<split>.tsv` — found and read once.

Training (`training/data.read_beir`: an in-memory split to learn from) and the evaluation
(`pipelines/beir.BeirDataset`: a directory streamed into a store) both open BEIR directories; the file
names, the split listing and the qrels reader live here so the two cannot drift. Stdlib only; in
components because imports run pipelines -> training -> components. Each caller passes its layer's
error class (`error=`).

Qrels are `query-id <TAB> corpus-id <TAB> score`, an optional header line, CRLF endings (as SciFact ships
them) read like LF; lines split on "\\n" only, so a stray "\\r" cannot shift the line numbers of errors.
"""

from __future__ import annotations

from pathlib import Path

from .jsonl import numbered_lines

CORPUS_NAMES = ("corpus.jsonl", "corpus.jsonl.gz")
QUERIES_NAME = "queries.jsonl"


def find_corpus(directory: Path) -> Path | None:
    """The directory's corpus file (plain first, then gzipped), or None."""
    return next((directory / n for n in CORPUS_NAMES if (directory / n).is_file()), None)


def qrels_file(directory: Path, split: str) -> Path:
    return directory / "qrels" / f"{split}.tsv"


def splits(directory: Path) -> list[str]:
    """The split names with a qrels file, sorted."""
    return sorted(p.stem for p in (directory / "qrels").glob("*.tsv"))


def read_qrels(path: str | Path, error: type[Exception]) -> dict[str, dict[str, int]]:
    """query id -> {doc id: relevance}, in file order, zeros kept; a bad line raises `error` with file:line."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    for number, line in numbered_lines(path, error):
        fields = line.rstrip("\r\n").split("\t")
        if not line.strip() or (number == 1 and fields[0] == "query-id"):
            continue
        query_id, doc_id, score = _qrels_fields(fields, f"{path}:{number}", error)
        qrels.setdefault(query_id, {})[doc_id] = score
    return qrels


def _qrels_fields(fields: list[str], where: str, error: type[Exception]) -> tuple[str, str, int]:
    if len(fields) != 3:
        raise error(f"{where}: expected 3 tab-separated fields (query-id, corpus-id, score), got {len(fields)}")
    try:
        return fields[0], fields[1], int(fields[2])
    except ValueError:
        raise error(f"{where}: score {fields[2]!r} is not an integer") from None
