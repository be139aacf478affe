"""LightRetrieverDocumentEmbedder: documents in, the same documents with dense + sparse embeddings out."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.dataclasses import SparseEmbedding

from .paths import checked_artifact, resolved


@component
class LightRetrieverDocumentEmbedder:
    """Runs the artifact's document encoder (one forward pass per document gives both vectors) and
    sets `embedding` and `sparse_embedding` on copies of the documents (ids are kept).

    ```python
    from haystack import Document
    from lightretriever.components.haystack import LightRetrieverDocumentEmbedder

    embedder = LightRetrieverDocumentEmbedder(model="artifacts/minilm", meta_fields_to_embed=["title"])
    embedder.warm_up()
    docs = embedder.run([Document(content="Aspirin lowers the risk of heart attack.", meta={"title": "Aspirin"})])
    ```
    """

    __module__ = "haystack_integrations.components.embedders.lightretriever"  # YAML loads with no allowlist step

    def __init__(self, model: str, batch_size: int = 32, progress_bar: bool = True,
                 meta_fields_to_embed: list[str] | None = None, embedding_separator: str = "\n",
                 prefix: str = "", suffix: str = "", device: str | None = None,
                 dtype: str | None = None):
        """
        :param model: path of a LightRetriever artifact directory (with its document model).
        :param batch_size: documents per forward pass.
        :param progress_bar: show a progress bar (docs/s) while embedding.
        :param meta_fields_to_embed: meta fields whose values are embedded in front of the content.
        :param embedding_separator: joins the meta values and the content.
        :param prefix: text added before every document; `suffix`: after.
        :param device: "cpu", "cuda", ...; default: cuda when available.
        :param dtype: the model's forward dtype: "auto" (None: bfloat16 where the CPU or GPU runs it natively,
            else float32), "float32" (vectors that do not move with batching), "bfloat16", "float16".
        """
        self.model = str(model)
        self.batch_size = batch_size
        self.progress_bar = progress_bar
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.prefix = prefix
        self.suffix = suffix
        self.device = device
        self.dtype = dtype
        self._model_root = resolved(self.model)  # a relative path: against this working directory (paths.py)
        self._encoder = None

    def warm_up(self) -> None:
        """Load the document model (idempotent; imports torch)."""
        if self._encoder is None:
            from ..document_encoder import DocumentEncoder

            root = checked_artifact(self.model, self._model_root, "LightRetrieverDocumentEmbedder")
            self._encoder = DocumentEncoder.from_pretrained(root, device=self.device, dtype=self.dtype)

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, batch_size=self.batch_size, progress_bar=self.progress_bar,
                               meta_fields_to_embed=self.meta_fields_to_embed,
                               embedding_separator=self.embedding_separator, prefix=self.prefix,
                               suffix=self.suffix, device=self.device, dtype=self.dtype)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LightRetrieverDocumentEmbedder":
        return default_from_dict(cls, data)

    def _text(self, doc: Document) -> str:
        meta = [str(doc.meta[k]) for k in self.meta_fields_to_embed if doc.meta.get(k) is not None]
        return self.prefix + self.embedding_separator.join([*meta, doc.content or ""]) + self.suffix

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        """Embed documents. A document without content gets a zero dense vector and an empty sparse one."""
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise TypeError(
                "LightRetrieverDocumentEmbedder expects a list of Documents as input. To embed a string, "
                "use LightRetrieverTextEmbedder.")
        if self._encoder is None:
            raise RuntimeError("The document model is not loaded. Call warm_up() before run() "
                               "(a Pipeline does it for you).")
        if not documents:
            return {"documents": []}
        encoded = self._encoder.encode([self._text(d) for d in documents], batch_size=self.batch_size,
                                       show_progress=self.progress_bar)
        out = []
        for doc, dense, sparse in zip(documents, encoded.dense, encoded.sparse, strict=True):
            out.append(replace(doc, embedding=dense.tolist(),
                               sparse_embedding=SparseEmbedding(indices=sparse.indices.tolist(),
                                                                values=sparse.values.tolist())))
        return {"documents": out}

    @component.output_types(documents=list[Document])
    async def run_async(self, documents: list[Document]) -> dict[str, list[Document]]:
        """Same as `run`, on a worker thread so the event loop stays free during the forward passes."""
        return await asyncio.to_thread(self.run, documents)
