"""The command-line flags of the corpus field mapping (`index`, `encode-corpus`, `adapt`).

The corpus reader itself (FieldMap, read_corpus, the line rules) is `components/corpus.py`, shared with
training; the names below are re-exported for the callers that still import them from here.
"""

from __future__ import annotations

from lightretriever.components.corpus import (  # noqa: F401  (re-exported for cli.py / adapt_cli.py / evaluate.py)
    FieldMap,
    count_documents,
    numbered_documents,
    read_corpus,
)
from lightretriever.components.errors import CorpusError  # noqa: F401  (re-exported)


def add_field_arguments(parser) -> None:
    """The command-line flags of FieldMap.with_overrides (index, encode-corpus, adapt)."""
    parser.add_argument("--id-field", help="JSON key of the document id (default: _id, id, docid, doc_id)")
    parser.add_argument("--text-field", help="JSON key of the text (default: text, contents, content, body)")
    parser.add_argument("--title-field", help="JSON key of the title (default: title)")
