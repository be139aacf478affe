"""SearchOptions: the search defaults are defined once, checked at construction and passed whole."""

import pytest

from lightretriever.components.errors import InvalidArgumentError
from lightretriever.components.store.fusion import DEFAULT_FUSION, DEFAULT_RRF_K, Fusion
from lightretriever.components.store.options import (DEFAULT_GROUP_SIZE, DEFAULT_K, DEFAULT_MODE, DEFAULT_PREFETCH,
                                                     SearchOptions)


def test_defaults_are_the_constants():
    options = SearchOptions()
    assert (options.mode, options.fusion, options.rrf_k, options.k) == (DEFAULT_MODE, DEFAULT_FUSION, DEFAULT_RRF_K,
                                                                        DEFAULT_K)
    assert options.weights is None and options.prefetch is None and options.filters is None
    assert options.depth == max(DEFAULT_PREFETCH, DEFAULT_K)
    assert SearchOptions(k=500).depth == 500 and SearchOptions(prefetch=30, k=5).depth == 30
    assert options.score_threshold is None and options.group_by is None and options.group_size is None
    assert options.with_payload is True and options.hnsw_ef is None and options.exact is False


def test_group_size_defaults_to_qdrants_and_grouping_can_be_switched_off():
    grouped = SearchOptions(group_by="meta.source")
    assert grouped.hits_per_group == DEFAULT_GROUP_SIZE == 3
    assert grouped.replace(group_by=None).group_by is None  # an unset group_size does not block this


@pytest.mark.parametrize("fields, message", [
    ({"mode": "both"}, "mode='both' is not known"),
    ({"fusion": "max"}, "fusion='max' is not known"),
    ({"rrf_k": -1}, "rrf_k=-1 must be a whole number >= 0"),
    ({"fusion": "dbsf", "weights": (1, 1)}, "weights apply to rrf and linear fusion, not dbsf"),
    ({"k": 0}, "k=0 must be a whole number >= 1"),
    ({"k": True}, "k=True must be a whole number >= 1"),
    ({"prefetch": 2.5}, "prefetch=2.5 must be a whole number >= 1"),
    ({"prefetch": 5, "k": 10}, "prefetch=5 is smaller than k=10"),
    ({"score_threshold": float("inf")}, "score_threshold=inf must be a finite number"),
    ({"score_threshold": "0.5"}, "score_threshold='0.5' must be a finite number"),
    ({"group_size": 2}, "group_size=2 needs group_by=FIELD"),
    ({"group_by": "meta.x", "group_size": 0}, "group_size=0 must be a whole number >= 1"),
    ({"group_by": ""}, "group_by='': filter field must be a non-empty string"),
    ({"hnsw_ef": 0}, "hnsw_ef=0 must be a whole number >= 1"),
    ({"exact": "yes"}, "exact='yes' must be True or False"),
    ({"with_payload": None}, "with_payload=None must be True or False"),
])
def test_bad_values_fail_at_construction(fields, message):
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SearchOptions(**fields)


def test_replace_checks_again_and_keeps_the_rest():
    options = SearchOptions(fusion="linear", weights=[1, 2], filters={"field": "meta.a", "operator": "==", "value": 1})
    assert options.weights == (1.0, 2.0)  # normalised once
    changed = options.replace(k=3)
    assert (changed.k, changed.fusion, changed.weights, changed.filters) == (3, "linear", (1.0, 2.0), options.filters)
    assert options.k == DEFAULT_K  # frozen: the original is unchanged
    with pytest.raises(InvalidArgumentError):
        options.replace(mode="nope")
    assert SearchOptions.of(options) is options and SearchOptions.of(None, k=4) == SearchOptions(k=4)


def test_a_fusion_value_passes_whole():
    options = SearchOptions(fusion=Fusion(kind="rrf", rrf_k=7, weights=(2.0, 1.0)))
    assert (options.fusion, options.rrf_k, options.weights) == ("rrf", 7, (2.0, 1.0))
    assert options.fused == Fusion(kind="rrf", rrf_k=7, weights=(2.0, 1.0))
