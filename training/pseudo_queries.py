"""Label-free queries cut from the corpus itself, for distillation (student: the lookup-table query
encoder; teacher: the full model encoding the same text). No relevance labels are needed, only text that
looks like what users type: a title, one sentence, or a run of words.

Kinds
    title      the document's title (once per document)
    sentence   one sentence of the text (a regex splitter: end punctuation, then a capital or digit)
    span       a random contiguous run of 4-24 words of the text
Documents are visited round-robin in a seeded shuffled order, one query per visit, so n queries touch
min(n, documents) documents before any document gives a second one. Each visit starts at a different kind
(a random offset per document), which keeps the kinds roughly balanced. Texts shorter than `min_words`
are skipped, longer ones cut to `max_words`; duplicates (case and spacing ignored) are dropped.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lightretriever.components.document import StoredDocument

from .data import TrainingDataError

KINDS = ("title", "sentence", "span")
SPAN_WORDS = (4, 24)
# a sentence ends at . ! or ? followed by space and an upper-case letter, a digit or an opening bracket/quote
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_SPAN_TRIES = 8  # random spans that may repeat an earlier one before a document counts as exhausted


@dataclass(frozen=True)
class PseudoQuery:
    text: str
    doc_id: str
    kind: str  # "title" | "sentence" | "span"


def pseudo_queries(corpus: dict[str, StoredDocument], n: int, seed: int = 42, kinds: Sequence[str] = KINDS,
                   min_words: int = 4, max_words: int = 32) -> list[PseudoQuery]:
    """Up to `n` distinct pseudo queries (fewer only when the corpus runs out of text)."""
    kinds = _check(kinds, min_words, max_words)
    rng = random.Random(seed)
    order = sorted(corpus)  # sorted first: the result must not depend on the corpus file's order
    rng.shuffle(order)
    sources = {doc_id: _DocumentSource(corpus[doc_id], kinds, rng, min_words, max_words) for doc_id in order}
    queries: list[PseudoQuery] = []
    seen: set[str] = set()
    while len(queries) < n and sources:
        for doc_id in list(sources):
            query = sources[doc_id].next(seen)
            if query is None:
                del sources[doc_id]  # exhausted: no kind yields a new text
                continue
            seen.add(_key(query.text))
            queries.append(query)
            if len(queries) == n:
                break
    return queries


def _check(kinds: Sequence[str], min_words: int, max_words: int) -> tuple[str, ...]:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise TrainingDataError(f"unknown pseudo-query kinds {unknown or list(kinds)}; choose from {list(KINDS)}")
    if not 1 <= min_words <= max_words:
        raise TrainingDataError(f"pseudo queries need 1 <= min_words <= max_words (got {min_words}, {max_words})")
    return tuple(dict.fromkeys(kinds))


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


class _DocumentSource:
    """One document's queries, made lazily on its first visit (a large corpus is never split up front)."""

    def __init__(self, document: StoredDocument, kinds: tuple[str, ...], rng: random.Random, min_words: int,
                 max_words: int):
        self.document, self.rng, self.min_words, self.max_words = document, rng, min_words, max_words
        self.kinds = list(kinds)
        self.generators: dict[str, Iterator[str]] | None = None

    def next(self, seen: set[str]) -> PseudoQuery | None:
        if self.generators is None:
            self._start()
        while self.kinds:
            kind = self.kinds[0]
            self.kinds.append(self.kinds.pop(0))  # rotate: the next visit starts at the next kind
            text = next((t for t in self.generators[kind] if _key(t) not in seen), None)
            if text is not None:
                return PseudoQuery(text=text, doc_id=self.document.id, kind=kind)
            self.kinds.remove(kind)
        return None

    def _start(self) -> None:
        offset = self.rng.randrange(len(self.kinds))
        self.kinds = self.kinds[offset:] + self.kinds[:offset]
        makers = {"title": self._titles, "sentence": self._sentences, "span": self._spans}
        self.generators = {kind: makers[kind]() for kind in self.kinds}

    def _fit(self, text: str) -> str | None:
        words = text.split()
        return " ".join(words[:self.max_words]) if len(words) >= self.min_words else None

    def _titles(self) -> Iterator[str]:
        title = self._fit(self.document.title)
        if title:
            yield title

    def _sentences(self) -> Iterator[str]:
        sentences = [s for s in map(self._fit, split_sentences(self.document.text)) if s]
        self.rng.shuffle(sentences)
        yield from sentences

    def _spans(self) -> Iterator[str]:
        words = self.document.text.split()
        shortest = max(SPAN_WORDS[0], self.min_words)
        longest = min(SPAN_WORDS[1], self.max_words, len(words))
        if longest < shortest:
            return
        produced: set[tuple[int, int]] = set()
        misses = 0
        while misses < _SPAN_TRIES:  # stop once random draws keep landing on spans already given
            length = self.rng.randint(shortest, longest)
            start = self.rng.randrange(len(words) - length + 1)
            if (start, length) in produced:
                misses += 1
                continue
            produced.add((start, length))
            yield " ".join(words[start:start + length])
