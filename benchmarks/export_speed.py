"""Query-table export speed on a decoder artifact: prefix key/value reuse vs the naive forward.

Both methods export the same seeded random sample of token ids with the same batch size, in
one run; prints one JSON line with rows/s, the speedup, their max difference and the
extrapolated full-vocabulary export time.

    python benchmarks/export_speed.py --artifact /tmp/art_smol
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from common import artifact_dir, machine, timed

E5_INSTRUCTION = "Instruct: Given a scientific claim, retrieve documents that support or refute the claim\nQuery: "
TARGETS = {"speedup": 8.0, "max_abs_diff": 1e-4}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", help="decoder artifact directory (default: build SmolLM2 into --cache)")
    parser.add_argument("--cache", default="artifacts/", help="where a missing artifact is built")
    parser.add_argument("--sample", type=int, default=512, help="token ids exported by each method")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--instruction", default=E5_INSTRUCTION)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    from lightretriever.components import Artifact
    from lightretriever.components.backbones import config_prefix_ids, load_backbone
    from lightretriever.training.export import export_query_table

    artifact = Artifact.load(artifact_dir(args.artifact, args.cache, "smollm2"), need_document_model=True)
    backbone = load_backbone(artifact, "cpu")  # float32
    vocab = artifact.config.vocab_size
    ids = np.random.default_rng(args.seed).choice(vocab, size=min(args.sample, vocab), replace=False)

    def export(method: str, token_ids) -> np.ndarray:
        return export_query_table(backbone, artifact, args.instruction, token_ids=token_ids, method=method,
                                  batch_size=args.batch_size, show_progress=False)

    methods = ("prefix-kv", "naive")
    for method in methods:
        export(method, ids[:8])  # warm-up
    # Interleaved repeats, best kept: a busy machine slowing one pass cannot decide the ratio.
    runs, rows = {m: [] for m in methods}, {}
    for _ in range(args.repeats):
        for method in methods:
            stats, rows[method] = timed(lambda: export(method, ids))
            runs[method].append(stats["best_s"])
    times = {m: min(r) for m, r in runs.items()}

    diff = float(np.abs(rows["prefix-kv"] - rows["naive"]).max())
    rate = {m: len(ids) / t for m, t in times.items()}
    speedup = times["naive"] / times["prefix-kv"]
    result = {
        "benchmark": "export_speed", "artifact": str(artifact.root), "backbone": artifact.config.backbone,
        "sample": len(ids), "batch_size": args.batch_size, "seed": args.seed, "vocab_size": vocab,
        "prefix_tokens": len(config_prefix_ids(artifact.config, artifact.tokenizer(), args.instruction)),
        "speedup": speedup, "max_abs_diff": diff,
        "max_abs_value": float(np.abs(rows["naive"]).max()),
        "targets": TARGETS,
        "pass": {"speedup": speedup >= TARGETS["speedup"], "max_abs_diff": diff <= TARGETS["max_abs_diff"]},
        "rows_per_s": rate, "times_s": times, "runs_s": runs, "repeats": args.repeats,
        "full_vocab_export_s_extrapolated": {m: vocab / r for m, r in rate.items()},
        "instruction": args.instruction, "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
