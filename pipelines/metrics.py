"""Retrieval metrics with ranx: nDCG@10 (linear gain, as trec_eval and BEIR), recall@100, MRR@10.

Rankings come in as ordered id lists and go to ranx with scores that only encode the rank: ranx (and
trec_eval) break score ties their own way, which would silently reorder what the retriever returned.
The mean is over the queries of the qrels: a query with no result counts 0 for every metric.
"""

from __future__ import annotations

METRICS = ("ndcg@10", "recall@100", "mrr@10")


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
    from ranx import Qrels, Run, evaluate

    if not qrels:
        raise ValueError("no query has a relevant document: nothing to evaluate")
    run = rank_scores({q: rankings.get(q, []) for q in qrels})
    if not run:  # ranx cannot hold an empty run; no result anywhere scores 0 everywhere
        return {m: 0.0 for m in metrics}
    # make_comparable: queries without any result get an empty list (score 0) instead of an error
    scores = evaluate(Qrels(qrels), Run(run), list(metrics), make_comparable=True)
    if len(metrics) == 1:
        scores = {metrics[0]: scores}
    return {m: float(scores[m]) for m in metrics}
