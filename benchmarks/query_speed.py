"""Query encoding speed: LightRetriever's table lookup vs the tokenizer alone vs the full model.

Prints one JSON line. The full model runs on a sample of queries (`--full-sample`) and its
time is extrapolated per query to all `--n` queries; everything else runs on all n.

    python benchmarks/query_speed.py --artifact /tmp/art_minilm
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import artifact_dir, machine, timed

TARGETS = {"encode_step_speedup": 1000.0, "with_tokenization_speedup": 100.0, "encode_vs_tokenizer_only": 1.5}


def load_queries(path: str, n: int) -> list[str]:
    texts = [json.loads(line)["text"] for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return (texts * (n // len(texts) + 1))[:n]


def tokenizer_only(root: Path, texts: list[str], repeats: int) -> dict:
    """The bare tokenizer call QueryEncoder.tokenize makes (same prefix, truncation, no specials)."""
    from lightretriever.components import Artifact

    artifact = Artifact.load(root)
    tok = artifact.tokenizer()
    tok.enable_truncation(artifact.config.max_query_length)  # as QueryEncoder does
    prefixed = [artifact.config.query_prefix + t for t in texts]  # built outside the clock: stricter baseline
    tok.encode_batch(prefixed[:256], add_special_tokens=False)  # warm-up
    stats, _ = timed(lambda: tok.encode_batch(prefixed, add_special_tokens=False), repeats)
    return stats


def light(root: Path, texts: list[str], repeats: int) -> dict:
    """QueryEncoder: tokenize, encode_tokenized (the encode step) and the whole encode."""
    from lightretriever.components import QueryEncoder

    encoder = QueryEncoder.from_pretrained(root)
    encoder.encode(texts[:1024])  # warm-up (thread pool, caches)
    tok_stats, tokens = timed(lambda: encoder.tokenize(texts), repeats)
    step_stats, _ = timed(lambda: encoder.encode_tokenized(tokens), repeats)
    whole_stats, _ = timed(lambda: encoder.encode(texts), repeats)
    return {"tokenize": tok_stats, "encode_tokenized": step_stats, "encode": whole_stats,
            "tokens_per_query": float(tokens.lengths.mean()), "tokens": tokens}


def stored_dtype_step(root: Path, tokens, repeats: int) -> float:
    """encode_tokenized with the table kept in its stored dtype (dequantize_table=False)."""
    from lightretriever.components import QueryEncoder

    encoder = QueryEncoder.from_pretrained(root, dequantize_table=False)
    encoder.encode(["warm-up query"] * 1024)
    stats, _ = timed(lambda: encoder.encode_tokenized(tokens), repeats)
    return stats["best_s"]


def table_copy(root: Path, dtype: str, into: Path) -> Path:
    """A query-side copy of the artifact whose default table is stored as `dtype` (via save_table)."""
    from lightretriever.components import Artifact
    from lightretriever.components.tables import dequantize, load_table, save_table

    out = into / dtype
    shutil.copytree(root, out, ignore=shutil.ignore_patterns("model", "adapter"))
    artifact = Artifact.load(out)
    spec = artifact.table_spec()
    save_table(artifact.table_file(), dequantize(*load_table(artifact.table_file())), dtype, spec.instruction)
    spec.dtype = dtype
    artifact.save_config()
    return out


def full_model(root: Path, texts: list[str], batch_size: int, repeats: int) -> dict:
    """The symmetric full forward on already tokenised queries, in length-sorted batches.

    `with_sparse` is DocumentEncoder.encode_ids (dense + vocabulary-projection sparse);
    `dense_only` is hidden -> pool -> normalise, the cheaper and so conservative baseline.
    """
    import torch

    from lightretriever.components import DocumentEncoder
    from lightretriever.components.backbones import pool_dense

    encoder = DocumentEncoder.from_pretrained(root, device="cpu", dtype="float32")
    tok = encoder._tokenizer
    tok.encode_batch(texts[:64], add_special_tokens=True)  # warm-up
    tok_stats, encodings = timed(lambda: tok.encode_batch(texts, add_special_tokens=True), repeats)
    ids = sorted((e.ids for e in encodings), key=len, reverse=True)
    batches = [ids[a:a + batch_size] for a in range(0, len(ids), batch_size)]

    @torch.inference_mode()
    def dense_only(batch):
        input_ids, attention = encoder._pad(batch)
        hidden = encoder.backbone.hidden(input_ids, attention)
        dense = pool_dense(hidden, attention, encoder.config.pooling).float()
        return torch.nn.functional.normalize(dense, dim=-1).numpy()

    dense_only(batches[0]), encoder.encode_ids(batches[0])  # warm-up
    # Best of `repeats` per batch, both variants interleaved: a busy machine slows one pass,
    # rarely the same batch twice, so the sum of minima is the steadier figure.
    dense_s = sparse_s = 0.0
    for batch in batches:
        dense_s += timed(lambda: dense_only(batch), repeats)[0]["best_s"]
        sparse_s += timed(lambda: encoder.encode_ids(batch), repeats)[0]["best_s"]
    return {"sample": len(texts), "batch_size": batch_size, "tokens_per_query": float(np.mean([len(x) for x in ids])),
            "tokenize_s": tok_stats["best_s"], "dense_only_s": dense_s, "with_sparse_s": sparse_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", help="artifact directory (default: build MiniLM into --cache)")
    parser.add_argument("--cache", default="artifacts/", help="where a missing artifact is built")
    parser.add_argument("--queries", default=str(Path(__file__).resolve().parents[2] / "shared/data/scifact/queries.jsonl"))
    parser.add_argument("--n", type=int, default=65536)
    parser.add_argument("--full-sample", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32, help="full-model batch size")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the fast (LightRetriever) parts")
    parser.add_argument("--full-repeats", type=int, default=2, help="repeats of each full-model batch (best kept)")
    args = parser.parse_args(argv)
    if args.full_sample < 1024:
        parser.error("--full-sample must be >= 1024 (a smaller sample under-represents long queries)")

    root = artifact_dir(args.artifact, args.cache, "minilm")
    texts = load_queries(args.queries, args.n)
    tok_only = tokenizer_only(root, texts, args.repeats)
    ours = light(root, texts, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        stored = {dtype: stored_dtype_step(table_copy(root, dtype, Path(tmp)), ours["tokens"], args.repeats)
                  for dtype in ("float16", "int8")}
    full = full_model(root, texts[: args.full_sample], args.batch_size, args.full_repeats)

    scale = args.n / full["sample"]  # per-query time x n
    full_tok, full_dense, full_sparse = (full[k] * scale for k in ("tokenize_s", "dense_only_s", "with_sparse_s"))
    our_tok, our_step, our_whole = (ours[k]["best_s"] for k in ("tokenize", "encode_tokenized", "encode"))
    ratios = {
        "encode_step_speedup": full_dense / our_step,
        "encode_step_speedup_vs_with_sparse": full_sparse / our_step,
        "with_tokenization_speedup": (full_tok + full_dense) / (our_tok + our_step),
        "encode_vs_tokenizer_only": our_whole / tok_only["best_s"],
    }
    passed = {
        "encode_step_speedup": ratios["encode_step_speedup"] >= TARGETS["encode_step_speedup"],
        "with_tokenization_speedup": ratios["with_tokenization_speedup"] >= TARGETS["with_tokenization_speedup"],
        "encode_vs_tokenizer_only": ratios["encode_vs_tokenizer_only"] <= TARGETS["encode_vs_tokenizer_only"],
    }
    config = json.loads((root / "lightretriever.json").read_text())
    result = {
        "benchmark": "query_speed", "artifact": str(root), "backbone": config["backbone"],
        "base_model": config.get("provenance", {}).get("base_model"), "n_queries": args.n,
        **ratios, "targets": TARGETS, "pass": passed,
        "times_s": {
            "tokenizer_only": tok_only["best_s"], "light_tokenize": our_tok, "light_encode_tokenized": our_step,
            "light_encode": our_whole,
            "light_encode_tokenized_stored_dtype": stored,
            "full_tokenize_extrapolated": full_tok, "full_dense_only_extrapolated": full_dense,
            "full_with_sparse_extrapolated": full_sparse,
        },
        "medians_s": {"tokenizer_only": tok_only["median_s"],
                      **{f"light_{k}": ours[k]["median_s"] for k in ("tokenize", "encode_tokenized", "encode")}},
        "full_model_sample": full, "light_tokens_per_query": ours["tokens_per_query"],
        "repeats": args.repeats, "full_repeats": args.full_repeats, "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
