"""SearchOptions: everything a search is asked besides the query, defined and checked in one place.

Every front end (the store, `HybridSearcher`, the Haystack and LlamaIndex retrievers, the CLI's `search`,
`evaluate`, the quickstart) builds one `SearchOptions` and passes it whole; a per-call change is
`options.replace(k=5)`. The defaults live here or, for fusion, in `fusion.py`:

  mode      DEFAULT_MODE = "hybrid"          dense | sparse | hybrid (`fusion.MODES`)
  fusion    fusion.DEFAULT_FUSION = "dbsf"   rrf | dbsf | linear (`fusion.FUSIONS`; chosen by measurement)
  rrf_k     fusion.DEFAULT_RRF_K = 60        RRF's rank constant
  weights   None                             (dense, sparse): equal for rrf, fusion.DEFAULT_LINEAR_WEIGHTS for linear
  prefetch  None                             candidates per leg before fusion: max(DEFAULT_PREFETCH, k)
  k         DEFAULT_K = 10                   hits returned
  filters   None                             Haystack-syntax filter (store/filters.py translates it)
  score_threshold None                       drop hits scoring below it, after fusion, on the score a hit
                                             carries: cosine (dense), dot product (sparse), fused (hybrid)
  group_by  None                             payload field ("meta.source"): k groups, not k hits (groups.py)
  group_size None                            hits per group: DEFAULT_GROUP_SIZE when group_by is set
  with_payload True                          False: ids and scores only (no title/text/meta read: `evaluate`)
  hnsw_ef   None                             HNSW candidate list of the dense leg (Qdrant's default: ef_construct)
  exact     False                            True: brute-force dense search, no HNSW (the recall reference)

Checked once, at construction, so a bad value fails where it is written, before any store is touched.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from ..errors import FilterError, InvalidArgumentError
from .filters import field_key
from .fusion import DEFAULT_FUSION, DEFAULT_LINEAR_WEIGHTS, DEFAULT_RRF_K, FUSIONS, MODES, Fusion, check_mode

DEFAULT_MODE = "hybrid"
DEFAULT_K = 10
DEFAULT_PREFETCH = 100  # per leg; deeper than k so that fusion sees documents only one leg ranks high
DEFAULT_GROUP_SIZE = 3  # Qdrant's own default for its groups API


@dataclass(frozen=True)
class SearchOptions:
    # `metadata`: the command line's help for each field (pipelines/commands/options.py makes the flags)
    mode: str = field(default=DEFAULT_MODE, metadata={"help": "which vectors to search", "choices": MODES})
    fusion: str = field(default=DEFAULT_FUSION, metadata={"help": "how hybrid search joins its two legs",
                                                           "choices": FUSIONS})
    rrf_k: int = field(default=DEFAULT_RRF_K, metadata={"help": "RRF constant k (score = sum 1/(rank + k))",
                                                         "range": "non_negative"})
    weights: tuple[float, float] | None = field(default=None, metadata={
        "help": "dense,sparse weights for rrf/linear (default: equal for rrf, "
                + ",".join(f"{w:g}" for w in DEFAULT_LINEAR_WEIGHTS) + " for linear)", "metavar": "DENSE,SPARSE"})
    prefetch: int | None = field(default=None, metadata={
        "help": f"candidates per leg before fusion (default: max({DEFAULT_PREFETCH}, k))", "range": "positive"})
    k: int = field(default=DEFAULT_K, metadata={"help": "number of hits", "range": "positive"})
    filters: dict[str, Any] | None = field(default=None, metadata={
        "help": 'Haystack-style filter JSON, e.g. \'{"field": "meta.year", "operator": ">=", "value": 2020}\'', "metavar": "JSON"})
    score_threshold: float | None = field(default=None, metadata={
        "help": "drop hits scoring below this, after fusion: cosine for dense, dot product for sparse, "
                "the fused score for hybrid", "metavar": "SCORE"})
    group_by: str | None = field(default=None, metadata={
        "help": "group hits by this payload field (e.g. meta.source): k groups, each with its best hits",
        "metavar": "FIELD"})
    group_size: int | None = field(default=None, metadata={
        "help": f"hits per group with --group-by (default: {DEFAULT_GROUP_SIZE})", "range": "positive"})
    with_payload: bool = field(default=True, metadata={
        "help": "read each hit's title, text and meta (--no-with-payload: ids and scores only, faster)"})
    hnsw_ef: int | None = field(default=None, metadata={
        "help": "HNSW search breadth of the dense leg: higher finds more true neighbours, slower "
                "(default: the collection's ef_construct)", "range": "positive"})
    exact: bool = field(default=False, metadata={
        "help": "exact (brute-force) dense search instead of the HNSW index: full recall, slower on large collections"})

    def __post_init__(self) -> None:
        check_mode(self.mode)
        parsed = Fusion.parse(self.fusion, self.rrf_k, self.weights)  # a Fusion passed whole stays as it is
        for name, value in (("fusion", parsed.kind), ("rrf_k", parsed.rrf_k), ("weights", parsed.weights)):
            object.__setattr__(self, name, value)  # normalised: a list of weights becomes a tuple of floats
        for name, value in (("k", self.k), ("prefetch", self.prefetch), ("hnsw_ef", self.hnsw_ef)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
                raise InvalidArgumentError(f"{name}={value!r} must be a whole number >= 1")
        self._check_grouping_and_threshold()
        for name in ("with_payload", "exact"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgumentError(f"{name}={getattr(self, name)!r} must be True or False")
        if self.prefetch is not None and self.prefetch < self.k:
            raise InvalidArgumentError(
                f"prefetch={self.prefetch} is smaller than k={self.k}: fusion could return at most {self.prefetch} "
                "documents; raise prefetch (each leg's candidate depth) to at least k")

    def _check_grouping_and_threshold(self) -> None:
        threshold = self.score_threshold
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
                                      or not math.isfinite(threshold)):
            raise InvalidArgumentError(f"score_threshold={threshold!r} must be a finite number (or None for no cut)")
        if self.group_by is not None:
            try:
                field_key(self.group_by)  # a malformed field name fails here, before any search
            except FilterError as exc:
                raise InvalidArgumentError(f"group_by={self.group_by!r}: {exc}") from exc
        size = self.group_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1):
            raise InvalidArgumentError(f"group_size={size!r} must be a whole number >= 1")
        if size is not None and self.group_by is None:
            raise InvalidArgumentError(f"group_size={size} needs group_by=FIELD (the payload field to group by)")

    @classmethod
    def of(cls, options: "SearchOptions | None" = None, **overrides: Any) -> "SearchOptions":
        """`options` with `overrides` applied; the defaults when `options` is None."""
        if options is None:
            return cls(**overrides)
        return options.replace(**overrides) if overrides else options

    def replace(self, **overrides: Any) -> "SearchOptions":
        """A copy with some fields changed (checked again): `options.replace(k=5, mode="dense")`."""
        return dataclasses.replace(self, **overrides)

    @property
    def fused(self) -> Fusion:
        """How the two legs of a hybrid search are combined (already checked at construction)."""
        return Fusion(kind=self.fusion, rrf_k=self.rrf_k, weights=self.weights)

    @property
    def hits_per_group(self) -> int:
        """group_size, or its default (kept None in the field so `replace(group_by=None)` stays valid)."""
        return self.group_size or DEFAULT_GROUP_SIZE

    @property
    def depth(self) -> int:
        """Candidates each leg fetches before fusion."""
        return max(DEFAULT_PREFETCH, self.k) if self.prefetch is None else self.prefetch
