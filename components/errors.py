"""Errors users see. Each message names the broken part, where it is (file:line, document id, field
path) and the command or change that fixes it.

One type per layer, all under `LightRetrieverError` (so `except LightRetrieverError` catches every
refusal made on purpose); the ValueError/OSError bases keep `except ValueError` callers working:

    ArtifactError          an artifact directory is missing a part, is damaged, or was tampered with
    CorpusError            a corpus line cannot be read as a document
    VectorsError           a document-vector file is damaged or does not fit the artifact / corpus
    QueryError             a query cannot be encoded (not text, or not encodable as UTF-8)
    InvalidArgumentError   an argument is out of range (batch_size=0, top_k=0, NaN fusion weights)
    StoreError             a Qdrant collection is missing, unreachable, or refused the operation
      StoreMismatchError     ... was indexed by another document encoder, dimension or vocabulary
      StoreInUseError        ... is held open by another store
      StoreAuthError         ... the server refused the credentials (401/403)
      StoreFullError         ... the disk is (nearly) full; nothing of the refused write was stored
      PayloadError           ... a document's metadata cannot be stored (type, depth or size)
      FilterError            ... a payload filter is malformed or cannot be expressed
    MissingExtraError      a feature needs an optional dependency the install left out (names the extra)
"""


class LightRetrieverError(Exception):
    """Base class of every error raised on purpose by lightretriever."""


class ArtifactError(LightRetrieverError, ValueError):
    """An artifact directory is missing a part, is damaged, or its parts disagree."""


class CorpusError(LightRetrieverError, ValueError):
    """A corpus line cannot be read as a document (the message gives file:line)."""


class VectorsError(LightRetrieverError, ValueError):
    """A document-vector file is damaged, or does not fit the artifact or the corpus it is used with."""


class QueryError(LightRetrieverError, ValueError):
    """A query cannot be encoded: not a string, or text that is not valid Unicode."""


class InvalidArgumentError(LightRetrieverError, ValueError):
    """An argument is outside the range it is meaningful in."""


class StoreError(LightRetrieverError):
    """A Qdrant collection is missing, locked, unreachable, or refused the operation."""


class StoreMismatchError(StoreError, ValueError):
    """The collection was indexed with a different document encoder, dimension or vocabulary."""


class StoreInUseError(StoreError):
    """Another process (or another open store in this process) holds the embedded directory."""


class StoreAuthError(StoreError):
    """The Qdrant server answered 401/403: the API key is missing or wrong."""


class StoreFullError(StoreError, OSError):
    """Not enough free disk space to write (or open) the collection safely."""


class PayloadError(StoreError, ValueError):
    """A document's payload (metadata) cannot be stored: unsupported type, too deep or too large."""


class FilterError(StoreError, ValueError):
    """A payload filter is malformed or uses an operator the backend cannot express."""


class MissingExtraError(LightRetrieverError, ImportError):
    """A feature needs a module of an extra that is not installed (e.g. torch: `lightretriever[documents]`)."""
