"""The training-data entry point: a path -> examples (a BEIR directory with mined negatives, or triples).

It joins the readers (data.py) and the BM25 miner (negatives.py, which reads data.py's types), so
that the two import one way — data <- negatives <- inputs — instead of in a loop.
"""

from __future__ import annotations

from pathlib import Path

from .data import TrainExample, TrainingDataError, examples_from_beir, read_beir, read_triples


def load_training_data(path: str | Path, split: str = "train", hard_negatives: int = 7, negative_depth: int = 50,
                       seed: int = 42, show_progress: bool = True, *, skip_top: int = 0) -> list[TrainExample]:
    """A directory is read as BEIR (BM25 negatives mined when hard_negatives > 0); a file as JSONL triples."""
    path = Path(path).expanduser()
    if path.is_dir():
        return _beir_examples(path, split, hard_negatives, negative_depth, seed, show_progress, skip_top)
    if path.is_file():
        return read_triples(path)
    raise TrainingDataError(f"training data {path} does not exist; pass a BEIR directory or a JSONL triples file")


def _beir_examples(path: Path, split: str, hard_negatives: int, depth: int, seed: int, show_progress: bool,
                   skip_top: int) -> list[TrainExample]:
    from .negatives import mine_bm25_negatives  # imported here: only BEIR input needs bm25s (not triples)

    dataset = read_beir(path, split, show_progress=show_progress)
    if hard_negatives <= 0:
        return examples_from_beir(dataset)
    judged = {q: {d for d, rel in rels.items() if rel > 0} for q, rels in dataset.qrels.items()}
    queries = {q: dataset.queries[q] for q in judged if judged[q] and q in dataset.queries}
    negatives = mine_bm25_negatives(dataset.corpus, queries, judged, depth=depth, n=hard_negatives, seed=seed,
                                    show_progress=show_progress, skip_top=skip_top)
    return examples_from_beir(dataset, negatives)
