"""lightretriever.training: produces artifacts (zero-shot builds, table export; training to come)."""

from .build import build_artifact
from .export import export_query_table, write_query_table

__all__ = ["build_artifact", "export_query_table", "write_query_table"]
