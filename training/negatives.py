"""BM25 hard negatives: documents that share words with a query but are not judged relevant to it.

One bm25s index over the corpus (English stopwords; PyStemmer's English stemmer when it is installed),
one batched retrieval of the top `depth` documents per query. From each ranking we drop
    * the query's positives, and any document whose text equals a positive's (duplicates in the corpus),
    * documents with a BM25 score of 0 (no word in common: not "hard", just whatever the index order gave),
    * the first `skip_top` remaining candidates (default 0): the highest-ranked non-positives are often
      unjudged relevant documents, and training against such false negatives hurts; 3-10 is a common choice,
and keep the next `n` ids, best first. Equal scores are ordered by a seeded shuffle of the corpus, so
which of several tied documents is kept depends on `seed`, not on the corpus file's order.
"""

from __future__ import annotations

import random

import bm25s
import numpy as np

from lightretriever.components.document import StoredDocument

from .data import TrainingDataError


def mine_bm25_negatives(corpus: dict[str, StoredDocument], queries: dict[str, str], positives: dict[str, set[str]],
                        depth: int = 50, n: int = 7, seed: int = 42, show_progress: bool = True,
                        skip_top: int = 0) -> dict[str, list[str]]:
    """query id -> up to `n` negative doc ids (best BM25 first), for every query in `queries`."""
    _check_arguments(corpus, depth, n, skip_top)
    if n == 0 or not queries:
        return {query_id: [] for query_id in queries}
    doc_ids = sorted(corpus)
    random.Random(seed).shuffle(doc_ids)  # the index order breaks ties (see the module docstring)
    ranked, scores = _bm25_rankings(corpus, doc_ids, list(queries.values()), min(depth, len(doc_ids)), show_progress)
    text_keys = {doc_id: _text_key(corpus[doc_id]) for doc_id in doc_ids}
    return {query_id: _pick(ranked[i], scores[i], doc_ids, text_keys, positives.get(query_id, set()), n, skip_top)
            for i, query_id in enumerate(queries)}


def _check_arguments(corpus: dict[str, StoredDocument], depth: int, n: int, skip_top: int) -> None:
    if not corpus:
        raise TrainingDataError("cannot mine negatives from an empty corpus")
    if depth < 1 or n < 0 or skip_top < 0:
        raise TrainingDataError(f"negative mining needs depth >= 1, n >= 0 and skip_top >= 0 "
                                f"(got depth={depth}, n={n}, skip_top={skip_top})")


def _stemmer():
    try:
        import Stemmer  # PyStemmer: optional, a better BM25 when present
    except ImportError:
        return None
    return Stemmer.Stemmer("english").stemWords


def _bm25_rankings(corpus: dict[str, StoredDocument], doc_ids: list[str], query_texts: list[str], k: int,
                   show_progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """(positions into doc_ids, scores), each of shape (queries, k), best first."""
    stemmer = _stemmer()
    corpus_tokens = bm25s.tokenize([corpus[d].encoder_text() for d in doc_ids], stopwords="en", stemmer=stemmer,
                                   show_progress=show_progress)
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=show_progress)
    # tokens as strings: the retriever maps them through the corpus vocabulary (unknown words drop out)
    query_tokens = bm25s.tokenize(query_texts, stopwords="en", stemmer=stemmer, return_ids=False,
                                  show_progress=show_progress)
    return retriever.retrieve(query_tokens, k=k, show_progress=show_progress)


def _text_key(document: StoredDocument) -> str:
    return " ".join(document.encoder_text().split()).casefold()


def _pick(ranked: np.ndarray, scores: np.ndarray, doc_ids: list[str], text_keys: dict[str, str],
          positive_ids: set[str], n: int, skip_top: int) -> list[str]:
    positive_texts = {text_keys[d] for d in positive_ids if d in text_keys}
    # stable sort on (-score, index position): ties follow the seeded index order whatever bm25s's top-k did
    order = sorted(range(len(ranked)), key=lambda j: (-float(scores[j]), int(ranked[j])))
    candidates = [doc_ids[ranked[j]] for j in order if scores[j] > 0]
    candidates = [d for d in candidates if d not in positive_ids and text_keys[d] not in positive_texts]
    return candidates[skip_top:skip_top + n]
