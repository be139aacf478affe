"""Errors users see. Each message names the broken part and the command that fixes it."""


class LightRetrieverError(Exception):
    """Base class of every error raised on purpose by lightretriever."""


class ArtifactError(LightRetrieverError, ValueError):
    """An artifact directory is missing a part or its parts disagree."""


class StoreError(LightRetrieverError):
    """A Qdrant collection is missing, locked, or was written by another document encoder."""


class StoreMismatchError(StoreError, ValueError):
    """The collection was indexed with a different document encoder, dimension or vocabulary."""


class StoreInUseError(StoreError):
    """Another process (or another open store in this process) holds the embedded directory."""


class FilterError(StoreError, ValueError):
    """A payload filter is malformed or uses an operator the backend cannot express."""
