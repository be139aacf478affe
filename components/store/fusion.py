"""How the dense and sparse legs of a hybrid search are combined.

- `rrf`: Qdrant's reciprocal-rank fusion, score = sum_i w_i / (rank_i + k) with rank counted from 0.
  k defaults to 60 (the usual value and the reference's); qdrant-client's local mode defaults to 2,
  which we never inherit because k is always sent.
- `dbsf`: Qdrant's distribution-based score fusion: each leg's scores are mapped with
  (s - (mean - 3 std)) / (6 std) (sample std) and summed.
- `linear`: the reference implementation's default: per query, each leg's candidate scores are
  min-max normalised to [0, 1] and summed with weights (0.7 dense, 0.3 sparse); a document missing
  from a leg gets 0 from it. One deviation: a leg whose candidates all tie (or has one candidate)
  normalises to 1, not 0 (the reference divides by max-min+1e-8), so appearing in it still counts.

Determinism: a query gets the same hits alone (`search`) and in a batch (`search_batch`). Equal scores
(common with RRF: ranks (i, j) and (j, i) tie exactly) come back in engine order, which differs between
a single and a batched request, so the top k is taken by (score desc, document id): each request asks
for k + TIE_MARGIN hits, and one whose k-th score still ties its last hit is asked again with twice the
limit (`query_tie_safe`). Linear fusion breaks ties at its cut by point id. Ties at a leg's prefetch
depth are the engine's to break.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from ..errors import InvalidArgumentError
from .plan import Plan, RawHit

FUSIONS = ("rrf", "dbsf", "linear")
MODES = ("dense", "sparse", "hybrid")
DEFAULT_RRF_K = 60
DEFAULT_LINEAR_WEIGHTS = (0.7, 0.3)
# Chosen by measurement (benchmarks/fusion_choice.py; README "Fusion"): the best mean nDCG@10 over every
# artifact kind (zero-shot, adapted, adapted + labels) on the collections at hand. Every entry point reads
# it through `options.SearchOptions`, where the other search defaults are.
DEFAULT_FUSION = "dbsf"
# Extra hits asked for beyond k so that a tie across the k-th place is usually settled in one request.
TIE_MARGIN = 4


@dataclass(frozen=True)
class Fusion:
    kind: str = DEFAULT_FUSION
    rrf_k: int = DEFAULT_RRF_K
    weights: tuple[float, float] | None = None  # (dense, sparse); None = equal for rrf, 0.7/0.3 for linear

    @classmethod
    def parse(cls, kind: str = DEFAULT_FUSION, rrf_k: int = DEFAULT_RRF_K,
              weights: tuple[float, float] | list[float] | None = None) -> "Fusion":
        """Checked here, once, for every entry point: a NaN, infinite or negative weight would turn every
        fused score into NaN or invert the ranking without an error."""
        if isinstance(kind, Fusion):
            return kind
        if not isinstance(kind, str) or kind not in FUSIONS:
            raise InvalidArgumentError(f"fusion={kind!r} is not known; use one of {FUSIONS}")
        rrf_k = _check_rrf_k(rrf_k)
        if weights is not None:
            weights = check_weights(weights)
            if kind == "dbsf":
                raise InvalidArgumentError("weights apply to rrf and linear fusion, not dbsf")
        return cls(kind=kind, rrf_k=rrf_k, weights=weights)

    def linear_weights(self) -> tuple[float, float]:
        return self.weights or DEFAULT_LINEAR_WEIGHTS


def _check_rrf_k(rrf_k) -> int:
    if (isinstance(rrf_k, bool) or not isinstance(rrf_k, numbers.Real) or not math.isfinite(rrf_k)
            or rrf_k != int(rrf_k) or rrf_k < 0):
        raise InvalidArgumentError(f"rrf_k={rrf_k!r} must be a whole number >= 0 (the usual value is {DEFAULT_RRF_K})")
    return int(rrf_k)


def check_weights(weights) -> tuple[float, float]:
    hint = ("pass two finite, non-negative numbers (dense, sparse), not both zero, "
            f"e.g. weights={DEFAULT_LINEAR_WEIGHTS}")
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__") or len(weights) != 2:
        raise InvalidArgumentError(f"weights={weights!r}: {hint}")
    if any(isinstance(w, bool) or not isinstance(w, numbers.Real) for w in weights):
        raise InvalidArgumentError(f"weights={weights!r} are not numbers: {hint}")
    values = tuple(float(w) for w in weights)
    if not all(math.isfinite(w) and w >= 0 for w in values) or not any(values):
        raise InvalidArgumentError(f"weights={values}: {hint}")
    return values


def check_mode(mode: str) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise InvalidArgumentError(f"mode={mode!r} is not known; use one of {MODES}")
    return mode


def linear_fuse(dense: list[RawHit], sparse: list[RawHit], weights: tuple[float, float], limit: int) -> list[RawHit]:
    """Weighted sum of per-query min-max normalised scores; ties at the cut are broken by point id."""
    fused: dict[str, float] = {}
    payloads: dict[str, dict] = {}
    for hits, weight in ((dense, weights[0]), (sparse, weights[1])):
        for hit, norm in zip(hits, _min_max([h.score for h in hits])):
            fused[hit.point_id] = fused.get(hit.point_id, 0.0) + weight * norm
            payloads.setdefault(hit.point_id, hit.payload)
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:limit]  # ties: by point id
    return [RawHit(pid, score, payloads[pid]) for pid, score in ranked]


def query_tie_safe(run: Callable[[list[Plan]], list[list[RawHit]]], plans: list[Plan], k: int,
                   ranked: Collection[int]) -> list[list[RawHit]]:
    """Run `plans`; those at the indices in `ranked` return their top k by (score desc, document id),
    whatever order the engine gives equal scores in (see the module docstring). The others run as given."""
    limits = {i: k + TIE_MARGIN for i in ranked}
    results = run([replace(p, limit=limits[i]) if i in limits else p for i, p in enumerate(plans)])
    for i in limits:
        results[i] = _by_score_then_id(results[i])
    pending = [i for i in limits if _tie_at_cut(results[i], k, limits[i])]
    while pending:
        for i in pending:
            limits[i] *= 2
        again = run([replace(plans[i], limit=limits[i]) for i in pending])
        for i, hits in zip(pending, again):
            results[i] = _by_score_then_id(hits)
        pending = [i for i in pending if _tie_at_cut(results[i], k, limits[i])]
    for i in limits:
        results[i] = results[i][:k]
    return results


def _by_score_then_id(hits: list[RawHit]) -> list[RawHit]:
    """Sorted by (score desc, document id). A list already in strictly falling score order (the engine's,
    with no tie) is returned as it is: the key reads every payload, ~0.1 ms per 100 hits."""
    scores = [h.score for h in hits]
    if len(set(scores)) == len(scores) and scores == sorted(scores, reverse=True):
        return hits
    return sorted(hits, key=_tie_key)


def _tie_key(hit: RawHit) -> tuple[float, str]:
    return -hit.score, str(hit.payload.get("id", ""))  # the document id, as Hit.id reads it


def _tie_at_cut(hits: list[RawHit], k: int, limit: int) -> bool:
    """True when documents not returned may score as high as the k-th: the list is full and the
    k-th score equals the last one."""
    return len(hits) >= limit and len(hits) > k and hits[k - 1].score == hits[-1].score


def _min_max(scores: list[float]) -> list[float]:
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 0.0:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]
