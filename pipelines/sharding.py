"""Which share of a corpus this process handles when a launcher starts several (torchrun, accelerate).

`torchrun --nproc_per_node N` and `accelerate launch` set RANK, WORLD_SIZE and LOCAL_RANK in every
process; `Shard.from_environment()` reads them (none set: rank 0 of 1, the single-process run). Every
rank decides its share alone, with no torch.distributed group and no communication:

  - `encode-corpus` (`batch_rows`): the corpus is cut into the batches a single process would run
    (length-sorted, components/batching.py) and batch k goes to rank k % N. Each batch then holds the same
    documents padded to the same length as in one process, so every vector is bit for bit the one a
    single-process run writes (a split by line would pad each batch differently: in bfloat16 that moves
    vectors by ~1e-3). Every rank tokenises the whole corpus for the lengths — cheap next to encoding.
  - `index --store http://…` (`Shard.holds`): a document goes to rank blake2b(id) % N, so a repeated id
    always lands on one rank, where "the last copy wins" holds as in a single process.

Either way the shares are disjoint and together are the corpus. `encode-corpus --out OUT` under N > 1
processes writes one file per rank, `shard_path(OUT, shard)`: `vectors.safetensors` →
`vectors.rank0-of-2.safetensors`, `vectors.rank1-of-2.safetensors`, each carrying its rank, the world size,
the batch size and `corpus_key` (a digest of the corpus file) in its metadata; `index --vectors OUT` finds
them with `shard_files(OUT)` and merges them (pipelines/vectors.py).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lightretriever.components.batching import length_sorted_batches
from lightretriever.components.errors import InvalidArgumentError, VectorsError

_SHARD_NAME = re.compile(r"\.rank(\d+)-of-(\d+)$")


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls, environ=None) -> "Shard":
        """RANK / WORLD_SIZE / LOCAL_RANK as torchrun and accelerate set them; absent: the single process."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", None)):
            raw = environ.get(name)
            try:
                values[name] = default if raw in (None, "") else int(raw)
            except ValueError:
                raise InvalidArgumentError(f"environment variable {name}={raw!r} is not an integer; it is set by "
                                           "torchrun / accelerate launch, unset it for a single process") from None
        rank, world = values["RANK"], values["WORLD_SIZE"]
        if world < 1 or not 0 <= rank < world:
            raise InvalidArgumentError(f"RANK={rank} does not fit WORLD_SIZE={world} (0 <= RANK < WORLD_SIZE); "
                                       "start the processes with torchrun or accelerate launch")
        local = rank if values["LOCAL_RANK"] is None else values["LOCAL_RANK"]
        return cls(rank, world, local)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def holds(self, doc_id: str) -> bool:
        """Whether the document `doc_id` is this rank's to encode or write."""
        if self.world_size == 1:
            return True
        digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.world_size == self.rank

    def device(self, device: str | None) -> str | None:
        """The device of this rank: one GPU per local rank when CUDA is asked for (or the default on a
        CUDA machine; more processes than GPUs share them round robin); a given index (cuda:1) or another
        device is kept as given."""
        if not self.distributed or (device is not None and device != "cuda"):
            return device
        import torch

        return f"cuda:{self.local_rank % torch.cuda.device_count()}" if torch.cuda.is_available() else device

    def metadata(self, corpus_key: str, batch_size: int) -> dict[str, str]:
        """What a shard file records so that `index --vectors` can check a set of them is one run."""
        return {"shard_rank": str(self.rank), "shard_world_size": str(self.world_size), "corpus_key": corpus_key,
                "shard_batch_size": str(batch_size)}

    def batch_rows(self, lengths, batch_size: int) -> np.ndarray:
        """The rows (input order) of this rank's batches: batch k of the single-process batching goes to
        rank k % world_size. Sorted by length again, these rows fall into exactly those batches (a stable
        sort of a subset keeps the subset's order in the whole), so the encoder pads them the same way."""
        batches = list(length_sorted_batches(lengths, batch_size))[self.rank::self.world_size]
        return np.sort(np.concatenate(batches)) if batches else np.zeros(0, dtype=np.int64)


def shard_path(out: str | Path, shard: Shard) -> Path:
    """The file a rank writes for `--out OUT`: OUT itself in a single process."""
    out = Path(out)
    if not shard.distributed:
        return out
    return out.with_name(f"{out.stem}.rank{shard.rank}-of-{shard.world_size}{out.suffix}")


def corpus_key(corpus: str | Path) -> str:
    """A digest of the corpus file's bytes: shards of one run were made from the same file."""
    digest = hashlib.blake2b(digest_size=16)
    with open(corpus, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shard_files(out: str | Path) -> list[Path]:
    """The shard files of `OUT`, rank order, checked complete (every rank of one world size present);
    [] when there are none. VectorsError names a missing shard, or two runs with different sizes."""
    out = Path(out)
    found: dict[int, dict[int, Path]] = {}
    for path in out.parent.glob(f"{out.stem}.rank*-of-*{out.suffix}"):
        match = _SHARD_NAME.search(path.name[: len(path.name) - len(out.suffix)] if out.suffix else path.name)
        if match and path.name.startswith(out.stem + ".rank"):
            found.setdefault(int(match.group(2)), {})[int(match.group(1))] = path
    if not found:
        return []
    if len(found) > 1:
        sizes = ", ".join(f"{w} processes" for w in sorted(found))
        raise VectorsError(f"{out.parent} holds shard files of {out.name} from runs with {sizes}; delete those of "
                           "the older run (or rerun encode-corpus)")
    world, ranks = next(iter(found.items()))
    missing = [shard_path(out, Shard(r, world)) for r in range(world) if r not in ranks]
    if missing:
        raise VectorsError(f"shard {missing[0]} is missing ({len(ranks)} of {world} shard files of {out} exist): "
                           f"rerun `encode-corpus` with {world} processes, which keeps the finished shards")
    return [ranks[r] for r in range(world)]
