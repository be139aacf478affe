"""IndexSettings: how a collection stores and indexes its dense vectors — the speed / recall / memory trade.

Set once, when the collection is created (`QdrantHybridStore(..., index=IndexSettings(m=32))`, the `index`
command's --hnsw-m / --ef-construct / --quantization / --on-disk), and kept in the collection's record
(schema.py), so a reopened collection reports what it was built with. Field names are Qdrant's own:

  m                   HNSW edges per node (Qdrant's default 16): more = higher recall, bigger index
  ef_construct        HNSW candidate list while building (default 100): more = better graph, slower build
  full_scan_threshold below this many KB of vectors a segment is searched exactly, not through HNSW
  indexing_threshold  KB of vectors a segment holds before an HNSW index is built for it
  on_disk             vectors (dense and sparse) in memory-mapped files instead of RAM
  quantization        "int8": scalar-quantised dense vectors (4x less memory) searched first, then
                      rescored on the originals

None leaves the engine's default. Per search, `SearchOptions(hnsw_ef=..., exact=...)` trades the other way.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgumentError

QUANTIZATIONS = ("int8",)
# Qdrant's HNSW defaults: qdrant-edge takes all three or none, so a partial setting is completed with these
HNSW_DEFAULTS = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10_000}
INT8_QUANTILE = 0.99  # Qdrant's recommended clip: the extreme 1% of values would waste the 256 levels


@dataclass(frozen=True)
class IndexSettings:
    m: int | None = field(default=None, metadata={"help": "HNSW edges per node (Qdrant's default: 16)", "range": "positive"})
    ef_construct: int | None = field(default=None, metadata={"help": "HNSW build breadth (Qdrant's default: 100)", "range": "positive"})
    full_scan_threshold: int | None = field(default=None, metadata={
        "help": "KB of vectors below which a segment is searched exactly (Qdrant's default: 10000)", "range": "positive"})
    indexing_threshold: int | None = field(default=None, metadata={
        "help": "KB of vectors in a segment before its HNSW index is built (Qdrant's default: 10000)", "range": "positive"})
    on_disk: bool = field(default=False, metadata={"help": "keep vectors on disk (large collections)"})
    quantization: str | None = field(default=None, metadata={
        "help": "int8: scalar-quantised dense vectors (4x less memory), rescored on the originals",
        "choices": QUANTIZATIONS})

    def __post_init__(self) -> None:
        for name in ("m", "ef_construct", "full_scan_threshold", "indexing_threshold"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
                raise InvalidArgumentError(f"IndexSettings {name}={value!r} must be a whole number >= 1")
        if not isinstance(self.on_disk, bool):
            raise InvalidArgumentError(f"IndexSettings on_disk={self.on_disk!r} must be True or False")
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            raise InvalidArgumentError(f"IndexSettings quantization={self.quantization!r} is not known; "
                                       f"use one of {', '.join(QUANTIZATIONS)} (or None for full-precision vectors)")

    @property
    def hnsw(self) -> dict[str, int]:
        """The HNSW fields that are set, by Qdrant's names (empty: the engine's defaults)."""
        return {name: getattr(self, name) for name in ("m", "ef_construct", "full_scan_threshold")
                if getattr(self, name) is not None}

    def to_record(self) -> dict[str, Any]:
        """What the collection's record keeps: only the fields that differ from the defaults."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) != f.default}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> "IndexSettings":
        known = {name: value for name, value in (record or {}).items() if name in cls.__dataclass_fields__}
        return cls(**known)
