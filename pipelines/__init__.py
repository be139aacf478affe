"""lightretriever.pipelines: ready Haystack and LlamaIndex pipelines, and the command line.

Builders are imported on first use, so the CLI does not import Haystack or LlamaIndex.
"""

_BUILDERS = {
    "indexing_pipeline": "haystack_pipelines", "search_pipeline": "haystack_pipelines",
    "rag_pipeline": "haystack_pipelines", "mermaid": "haystack_pipelines", "RAG_TEMPLATE": "haystack_pipelines",
    "hybrid_vector_index": "llama_index_pipelines", "query_engine": "llama_index_pipelines",
}

__all__ = sorted(_BUILDERS)


def __getattr__(name: str):
    if name in _BUILDERS:
        import importlib

        return getattr(importlib.import_module(f".{_BUILDERS[name]}", __name__), name)
    raise AttributeError(f"module 'lightretriever.pipelines' has no attribute {name!r}")
