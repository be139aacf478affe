"""BM25 baseline with bm25s (Lucene variant, k1=1.5, b=0.75) over the same texts the index encodes.

Tokens: bm25s' lowercase word pattern, English stopwords, and PyStemmer's English (Snowball) stemmer
when `import Stemmer` works — published SciFact BM25 figures (nDCG@10 0.66-0.69) are stemmed ones;
without it the baseline runs unstemmed and says so in `stemmer`.
"""

from __future__ import annotations

import time

import numpy as np


def english_stemmer():
    """(stemmer or None, its name for the report)."""
    try:
        import Stemmer
    except ImportError:
        return None, "none (pip install PyStemmer for the usual stemmed baseline)"
    return Stemmer.Stemmer("english"), "PyStemmer english"


class BM25Baseline:
    def __init__(self, ids: list[str], texts: list[str], show_progress: bool = True):
        import bm25s

        self._bm25s = bm25s
        self.ids = ids
        self.stemmer, self.stemmer_name = english_stemmer()
        started = time.perf_counter()
        show_progress = _bars(show_progress)
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, show_progress=show_progress)
        self.retriever = bm25s.BM25()
        self.retriever.index(tokens, show_progress=show_progress)
        self.index_s = time.perf_counter() - started

    def tokenize(self, queries: list[str]) -> list[list[str]]:
        # strings, not ids: the retriever maps them onto the corpus vocabulary (unknown words drop out)
        return self._bm25s.tokenize(queries, stopwords="en", stemmer=self.stemmer, return_ids=False,
                                    show_progress=False)

    def search(self, tokens: list[list[str]], k: int, show_progress: bool = True) -> list[list[str]]:
        """Top-k document ids per query; documents scoring 0 (no shared term) are not results."""
        k = min(k, len(self.ids))
        rows, scores = self.retriever.retrieve(tokens, k=k, show_progress=_bars(show_progress))
        return [self._ranked(r, s) for r, s in zip(rows, scores)]

    def _ranked(self, rows: np.ndarray, scores: np.ndarray) -> list[str]:
        # ties broken by id, as the store does, so the ranking does not depend on bm25s' internals
        hits = sorted((-float(s), self.ids[int(r)]) for r, s in zip(rows, scores) if s > 0)
        return [doc for _, doc in hits]


def _bars(show_progress: bool) -> bool:
    """bm25s draws tqdm bars of its own: only where components/progress.py would draw one (a terminal),
    never as carriage-return spam in a log."""
    from lightretriever.components.progress import progress_mode

    return progress_mode(show_progress) == "bar"
