"""LightRetrieverRetriever with LlamaIndex MetadataFilters: every FilterOperator of 0.14 run against
documents in the real embedded store (the ids that come back), nested conditions, per-call filters,
and the refusals that name the unsupported operator."""

from __future__ import annotations

import pytest
from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters
from llama_index.retrievers.lightretriever import LightRetrieverRetriever

from lightretriever.components import DocumentEncoder
from lightretriever.components.errors import FilterError
from lightretriever.components.llama_index.filters import to_filter_dict
from lightretriever.components.store import CollectionSchema, QdrantHybridStore, StoredDocument

META = [  # id i: the metadata of document "d{i}"
    {"year": 2018, "lang": "en", "tags": ["a", "b"]},
    {"year": 2020, "lang": "en", "tags": ["b"]},
    {"year": 2021, "lang": "de", "tags": ["a", "c"]},
    {"year": 2022, "lang": "de", "tags": []},
    {"year": 2019, "lang": "fr"},
    {"lang": "en", "tags": ["c"]},
]


@pytest.fixture(scope="module")
def retriever(minilm_artifact, tmp_path_factory):
    path = tmp_path_factory.mktemp("llama-filters") / "store"
    docs = [StoredDocument(id=f"d{i}", text=f"aspirin and heart attacks, note {i}", title=f"Doc {i}", meta=m)
            for i, m in enumerate(META)]
    encoded = DocumentEncoder.from_pretrained(minilm_artifact.root).encode([d.text for d in docs],
                                                                           show_progress=False)
    store = QdrantHybridStore(path, collection="f", schema=CollectionSchema.from_artifact(minilm_artifact))
    store.upsert(docs, encoded.dense, encoded.sparse)
    store.close()
    opened = LightRetrieverRetriever(model=str(minilm_artifact.root), store=str(path), collection="f", top_k=20,
                                     mode="dense")
    yield opened
    opened.close()


def ids(retriever, filters) -> set[int]:
    return {int(n.node.id_[1:]) for n in retriever.with_filters(filters).retrieve("aspirin")}


def one(key, operator, value) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key=key, operator=operator, value=value)])


@pytest.mark.parametrize(("key", "operator", "value", "expected"), [
    ("lang", FilterOperator.EQ, "en", {0, 1, 5}),
    ("lang", FilterOperator.NE, "en", {2, 3, 4}),
    ("year", FilterOperator.GT, 2020, {2, 3}),
    ("year", FilterOperator.GTE, 2020, {1, 2, 3}),
    ("year", FilterOperator.LT, 2020, {0, 4}),
    ("year", FilterOperator.LTE, 2020, {0, 1, 4}),
    ("lang", FilterOperator.IN, ["de", "fr"], {2, 3, 4}),
    ("lang", FilterOperator.NIN, ["de", "fr"], {0, 1, 5}),
    ("tags", FilterOperator.ANY, ["a", "c"], {0, 2, 5}),
    ("tags", FilterOperator.ALL, ["a", "b"], {0}),
    ("tags", FilterOperator.CONTAINS, "c", {2, 5}),
    ("tags", FilterOperator.IS_EMPTY, None, {3, 4}),  # an empty list or no field at all
    ("title", FilterOperator.EQ, "Doc 2", {2}),  # the node's metadata title is the store's title field
])
def test_each_operator_selects_the_right_documents(retriever, key, operator, value, expected):
    assert ids(retriever, one(key, operator, value)) == expected


def test_nested_and_or_not_conditions(retriever):
    either = MetadataFilters(condition=FilterCondition.OR, filters=[
        MetadataFilter(key="year", operator=FilterOperator.GTE, value=2020),
        MetadataFilter(key="tags", operator=FilterOperator.CONTAINS, value="c")])
    assert ids(retriever, MetadataFilters(filters=[MetadataFilter(key="lang", value="en"), either])) == {1, 5}
    neither = MetadataFilters(condition=FilterCondition.NOT, filters=[
        MetadataFilter(key="lang", value="en"), MetadataFilter(key="year", value=2021)])
    assert ids(retriever, neither) == {3, 4}  # NOT as the stock Qdrant store reads it: none of them matches


def test_filters_at_construction_and_per_call(minilm_artifact, retriever):
    assert ids(retriever, None) == set(range(6))
    german = retriever.with_filters(one("lang", FilterOperator.EQ, "de"))
    assert {n.node.id_ for n in german.retrieve("aspirin")} == {"d2", "d3"}
    assert len(retriever.retrieve("aspirin")) == 6  # the original keeps its (no) filters
    assert ids(retriever, {"field": "meta.lang", "operator": "==", "value": "fr"}) == {4}  # Haystack syntax too
    assert to_filter_dict(one("year", FilterOperator.GTE, 2020)) == {
        "operator": "AND", "conditions": [{"field": "meta.year", "operator": ">=", "value": 2020}]}


@pytest.mark.parametrize("operator", [FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE])
def test_text_match_is_refused_naming_the_operator_and_the_alternative(minilm_artifact, tmp_path, operator):
    with pytest.raises(FilterError, match=rf"{operator.name} on 'lang' is not supported.*use EQ"):
        LightRetrieverRetriever(model=str(minilm_artifact.root), store=str(tmp_path / "none"), collection="f",
                                filters=one("lang", operator, "en"))
    assert not (tmp_path / "none").exists()  # refused before any store opens


def test_not_metadata_filters_is_refused():
    with pytest.raises(FilterError, match="MetadataFilters or a Haystack-syntax dict"):
        to_filter_dict([MetadataFilter(key="lang", value="en")])
