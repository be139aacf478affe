"""Alias packages installed under LlamaIndex's `llama_index.*` namespace (see pyproject's package-dir),
laid out as the official integrations are: embeddings/, sparse_embeddings/, retrievers/."""
