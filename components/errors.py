"""Errors users see. Each message names the broken part and the command that fixes it."""


class LightRetrieverError(Exception):
    """Base class of every error raised on purpose by lightretriever."""


class ArtifactError(LightRetrieverError, ValueError):
    """An artifact directory is missing a part or its parts disagree."""
