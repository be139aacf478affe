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
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LightRetrieverError
from .plan import RawHit

FUSIONS = ("rrf", "dbsf", "linear")
MODES = ("dense", "sparse", "hybrid")
DEFAULT_RRF_K = 60
DEFAULT_LINEAR_WEIGHTS = (0.7, 0.3)
# Chosen by measurement (benchmarks/fusion_choice.py; README "Fusion"): the best mean nDCG@10 over every
# artifact kind (zero-shot, adapted, adapted + labels) on the collections at hand. Every entry point's
# default (searcher, store, Haystack / LlamaIndex retrievers, CLI, evaluate, quickstart) reads this.
DEFAULT_FUSION = "dbsf"


@dataclass(frozen=True)
class Fusion:
    kind: str = DEFAULT_FUSION
    rrf_k: int = DEFAULT_RRF_K
    weights: tuple[float, float] | None = None  # (dense, sparse); None = equal for rrf, 0.7/0.3 for linear

    @classmethod
    def parse(cls, kind: str = DEFAULT_FUSION, rrf_k: int = DEFAULT_RRF_K,
              weights: tuple[float, float] | list[float] | None = None) -> "Fusion":
        if isinstance(kind, Fusion):
            return kind
        if kind not in FUSIONS:
            raise LightRetrieverError(f"fusion={kind!r} is not known; use one of {FUSIONS}")
        if rrf_k < 0:
            raise LightRetrieverError(f"rrf_k={rrf_k} must be >= 0")
        if weights is not None:
            weights = tuple(float(w) for w in weights)
            if len(weights) != 2 or min(weights) < 0:
                raise LightRetrieverError(f"weights={weights} must be two non-negative numbers (dense, sparse)")
            if kind == "dbsf":
                raise LightRetrieverError("weights apply to rrf and linear fusion, not dbsf")
        return cls(kind=kind, rrf_k=int(rrf_k), weights=weights)

    def linear_weights(self) -> tuple[float, float]:
        return self.weights or DEFAULT_LINEAR_WEIGHTS


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise LightRetrieverError(f"mode={mode!r} is not known; use one of {MODES}")
    return mode


def linear_fuse(dense: list[RawHit], sparse: list[RawHit], weights: tuple[float, float], limit: int) -> list[RawHit]:
    """Weighted sum of per-query min-max normalised scores; ties keep dense-leg order first."""
    fused: dict[str, float] = {}
    payloads: dict[str, dict] = {}
    for hits, weight in ((dense, weights[0]), (sparse, weights[1])):
        for hit, norm in zip(hits, _min_max([h.score for h in hits])):
            fused[hit.point_id] = fused.get(hit.point_id, 0.0) + weight * norm
            payloads.setdefault(hit.point_id, hit.payload)
    ranked = sorted(fused.items(), key=lambda item: -item[1])[:limit]
    return [RawHit(pid, score, payloads[pid]) for pid, score in ranked]


def _min_max(scores: list[float]) -> list[float]:
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 0.0:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]
