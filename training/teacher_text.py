"""The full model's query text: what training's teacher encodes, and so what `evaluate`'s `full` mode encodes.

A table row stands in for the full model's forward pass on `instruction + " " + query`; training
distils from that text (collator, `--table-only` teachers, `adapt`), so the evaluation's `full`
baseline must encode the very same string, or it measures another model than the one the table was
taught by. It lives in training (torch-free, imported by `pipelines/evaluate.py`): the teacher defines
the text, and only training and pipelines need it — the serving query path never builds it.
"""

from __future__ import annotations

from lightretriever.components.artifact import Artifact


def full_query_text(instruction: str, query: str) -> str:
    """The symmetric (full-model) query text: the table's instruction, a space, the query."""
    query = query.strip()
    return f"{instruction.rstrip()} {query}" if instruction.strip() else query


def teacher_query_texts(artifact: Artifact, queries: list[str]) -> list[str]:
    """`full_query_text` with the instruction of the artifact's default table, for each query."""
    instruction = artifact.table_spec().instruction
    return [full_query_text(instruction, q) for q in queries]
