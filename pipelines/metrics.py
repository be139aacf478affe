"""Retrieval metrics with pytrec_eval (trec_eval's C code): nDCG@10 (linear gain, as trec_eval and
BEIR), recall@100, MRR@10.

Why pytrec_eval rather than ranx: both are maintained, but ranx compiles its numba kernels on first use
(~70 s on a 2-core machine, ~13 s per process even with numba's cache), which is most of a quickstart's
evaluation; trec_eval answers in milliseconds. `tests/test_evaluate.py` cross-checks these numbers
against ranx and against a hand-computed case.

Rankings come in as ordered id lists and go to trec_eval with scores that only encode the rank:
trec_eval breaks score ties its own way (by document id), which would silently reorder what the
retriever returned. The mean is over the queries of the qrels: a query with no result counts 0 for
every metric (trec_eval itself leaves such queries out of its mean).
"""

from __future__ import annotations

METRICS = ("ndcg@10", "recall@100", "mrr@10")
# our name -> (trec_eval measure, its key in the results, ranking depth given to trec_eval)
# trec_eval's recip_rank has no cutoff, so MRR@10 is recip_rank of the top 10 only.
_TREC_MEASURES = {
    "ndcg@10": ("ndcg_cut", "ndcg_cut_10", None),
    "recall@100": ("recall", "recall_100", None),
    "mrr@10": ("recip_rank", "recip_rank", 10),
}


def relevant_qrels(qrels: dict[str, dict[str, int]], queries=None) -> dict[str, dict[str, int]]:
    """Judgments above 0 only (0 = judged not relevant), for the given queries (default: all)."""
    chosen = qrels if queries is None else {q: qrels[q] for q in queries}
    kept = {q: {d: s for d, s in judged.items() if s > 0} for q, judged in chosen.items()}
    return {q: judged for q, judged in kept.items() if judged}


def rank_scores(rankings: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """{query: {doc: score}} whose scores fall strictly with the rank (first = len, last = 1)."""
    return {q: {d: float(len(ids) - i) for i, d in enumerate(ids)} for q, ids in rankings.items() if ids}


def retrieval_metrics(qrels: dict[str, dict[str, int]], rankings: dict[str, list[str]],
                      metrics: tuple[str, ...] = METRICS) -> dict[str, float]:
    """Mean of each metric over the queries of `qrels` (pass `relevant_qrels(...)`)."""
    import pytrec_eval

    if not qrels:
        raise ValueError("no query has a relevant document: nothing to evaluate")
    unknown = [m for m in metrics if m not in _TREC_MEASURES]
    if unknown:
        raise ValueError(f"unknown metric {unknown}: choose from {', '.join(_TREC_MEASURES)}")
    scores = {}
    for name in metrics:
        measure, key, depth = _TREC_MEASURES[name]
        run = rank_scores({q: rankings.get(q, [])[:depth] for q in qrels})
        per_query = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(run) if run else {}
        scores[name] = sum(per_query.get(q, {}).get(key, 0.0) for q in qrels) / len(qrels)
    return scores
