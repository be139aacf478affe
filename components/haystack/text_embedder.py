"""LightRetrieverTextEmbedder: a query in, dense + sparse embeddings out — a table lookup, no torch."""

from __future__ import annotations

from typing import Any

from haystack import component, default_from_dict, default_to_dict
from haystack.dataclasses import SparseEmbedding

from ..query_encoder import QueryEncoder
from .paths import checked_artifact, resolved


@component
class LightRetrieverTextEmbedder:
    """Embeds a query with a LightRetriever artifact's cached table (dense) and token counts (sparse).

    No neural network runs per query, so this component never loads torch. Connect `embedding` and
    `sparse_embedding` to a hybrid retriever (qdrant-haystack's `QdrantHybridRetriever`, or ours).

    ```python
    from lightretriever.components.haystack import LightRetrieverTextEmbedder

    embedder = LightRetrieverTextEmbedder(model="artifacts/minilm")
    embedder.warm_up()
    result = embedder.run("Does aspirin prevent heart attacks?")
    result["embedding"], result["sparse_embedding"]
    ```
    """

    __module__ = "haystack_integrations.components.embedders.lightretriever"  # YAML loads with no allowlist step

    def __init__(self, model: str, table: str | None = None, prefix: str = "", suffix: str = ""):
        """
        :param model: path of a LightRetriever artifact directory.
        :param table: query table (instruction) to use; default: the artifact's default table.
        :param prefix: text added before every query (the table's instruction is already built in).
        :param suffix: text added after every query.
        """
        self.model = str(model)
        self.table = table
        self.prefix = prefix
        self.suffix = suffix
        self._model_root = resolved(self.model)  # a relative path: against this working directory (paths.py)
        self._encoder: QueryEncoder | None = None

    def warm_up(self) -> None:
        """Load the tokenizer and the table (idempotent)."""
        if self._encoder is None:
            root = checked_artifact(self.model, self._model_root, "LightRetrieverTextEmbedder")
            self._encoder = QueryEncoder.from_pretrained(root, table=self.table)

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, table=self.table, prefix=self.prefix, suffix=self.suffix)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LightRetrieverTextEmbedder":
        return default_from_dict(cls, data)

    @component.output_types(embedding=list[float], sparse_embedding=SparseEmbedding)
    def run(self, text: str) -> dict[str, Any]:
        """Embed one query. An empty query gives a zero dense vector and an empty sparse vector."""
        if not isinstance(text, str):
            raise TypeError(
                "LightRetrieverTextEmbedder expects a string as input. To embed a list of Documents, "
                "use LightRetrieverDocumentEmbedder.")
        if self._encoder is None:
            raise RuntimeError("The query table is not loaded. Call warm_up() before run() "
                               "(a Pipeline does it for you).")
        encoded = self._encoder.encode([self.prefix + text + self.suffix])
        vector = encoded.sparse[0]
        return {"embedding": encoded.dense[0].tolist(),
                "sparse_embedding": SparseEmbedding(indices=vector.indices.tolist(), values=vector.values.tolist())}

    @component.output_types(embedding=list[float], sparse_embedding=SparseEmbedding)
    async def run_async(self, text: str) -> dict[str, Any]:
        """Same as `run`: a lookup takes microseconds, so there is nothing to await."""
        return self.run(text)
