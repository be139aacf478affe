"""Document encoding throughput: the default `DocumentEncoder` vs its forced-float32 path vs a plain transformers loop.

All three encode the same SciFact documents (title + " " + text, the first `--limit`) in batches of
`--batch-size`, with the same torch threads, twice: dense + sparse (text to a dense vector and a pruned
sparse vector) and dense only (no vocabulary head):
  - default: `DocumentEncoder()`, no dtype given ("auto"): bf16 on a CPU with native bf16 (AMX /
    AVX512-BF16, confirmed by a timing check) or on CUDA, float32 elsewhere (`backbones.default_dtype`);
  - fp32:    `DocumentEncoder(dtype="float32")`, the CPU default before issue 16 (length-sorted batches,
    blocked vocabulary max);
  - plain:   what a user writes with transformers, float32: the HF tokenizer on each batch in input order
    (padding to the batch's longest), the artifact's HF model class, the same pooling, the vocabulary
    projection over all positions at once, masked max, log1p(relu(.)), the same top-k/threshold pruning.
One untimed warm-up batch each, then `--repeats` passes, interleaved, best kept. The first pass's outputs
are compared: fp32 vs plain must agree exactly (dense max abs diff, top-10 sparse terms per document) or
the run stops, since the two would not be doing the same work; default vs fp32 gives the dense cosine
(min over documents) and the sparse top-10 overlap (mean) that bf16 costs. Targets, pass/fail in the JSON:
default / fp32 docs/s (dense + sparse) >= 1.8 where the default is bf16 on a CPU, >= 0.95 where it is
float32 (no native bf16: no regression); dense cosine >= 0.995; top-10 overlap >= 0.95; fp32 / plain >= 1.0.
Prints one JSON line.

    python benchmarks/document_speed.py [--artifact artifacts/minilm] [--limit 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path

import numpy as np

from common import artifact_dir, machine, timed

ROOT = Path(__file__).resolve().parents[1]
TARGET_SPEEDUP = 1.0  # fp32 (ours) / plain docs/s
TARGET_BF16_SPEEDUP = 1.8  # default / fp32 docs/s, dense + sparse, where the default is bf16 on a CPU
TARGET_NO_REGRESSION = 0.95  # the same where the default stays float32
TARGET_DENSE_COSINE = 0.995  # min over documents, default vs fp32
TARGET_TOP10_OVERLAP = 0.95  # mean over documents, default vs fp32
DENSE_TOLERANCE = 1e-4
TOP_TERMS = 10


def load_documents(path: Path, limit: int) -> list[str]:
    """The first `limit` documents as the indexer reads them: title + " " + text."""
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                doc = json.loads(line)
                texts.append(f"{doc.get('title', '')} {doc['text']}".strip())
            if len(texts) == limit:
                break
    return texts


class PlainEncoder:
    """The straightforward transformers loop: no sorting, no blocking, one [B, L, V] logits tensor per batch."""

    def __init__(self, root: Path):
        import torch
        from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

        config = json.loads((root / "lightretriever.json").read_text())
        if config["document_model"]["path"] is None:
            sys.exit(f"{root}: the plain loop needs a full model directory (this artifact stores base + adapter); "
                     "pass --artifact with a model/ folder, e.g. artifacts/minilm")
        self.config = config
        self.tokenizer = AutoTokenizer.from_pretrained(root)  # the artifact's tokenizer.json (same ids as ours)
        self.tokenizer.padding_side = "right"  # "last" pooling below indexes the last real token
        cls = {"tied_embeddings": AutoModel, "mlm_head": AutoModelForMaskedLM,
               "lm_head": AutoModelForCausalLM}[config["sparse_head"]]
        self.model = cls.from_pretrained(root / config["document_model"]["path"], dtype=torch.float32).eval()
        self.special = torch.tensor(self.tokenizer.all_special_ids)

    def encode_batch(self, texts: list[str]):
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.config["max_document_length"],
                               return_tensors="pt")
        with torch.inference_mode():
            hidden, logits = self.forward(batch)
            mask = batch["attention_mask"]
            content = mask.bool() & ~torch.isin(batch["input_ids"], self.special)  # no [CLS]/[SEP]/padding
            dense = torch.nn.functional.normalize(self.pool(hidden, mask), dim=-1)
            logits = logits[..., : self.config["vocab_size"]].masked_fill_(~content.unsqueeze(-1), float("-inf"))
            weights = torch.log1p(torch.relu(logits.amax(dim=1)))
            sparse = self.prune(weights)
        return dense.numpy(), sparse

    def encode_dense_batch(self, texts: list[str]):
        """Dense only: the body's last hidden state pooled and normalised, no vocabulary projection."""
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.config["max_document_length"],
                               return_tensors="pt")
        body = self.model if self.config["sparse_head"] == "tied_embeddings" else self.model.base_model
        with torch.inference_mode():
            hidden = body(**batch).last_hidden_state
            return torch.nn.functional.normalize(self.pool(hidden, batch["attention_mask"]), dim=-1).numpy()

    def forward(self, batch):
        if self.config["sparse_head"] == "tied_embeddings":  # the MiniLM artifact: logits = hidden @ E^T
            hidden = self.model(**batch).last_hidden_state
            return hidden, hidden @ self.model.get_input_embeddings().weight.T
        out = self.model(**batch, output_hidden_states=True)
        return out.hidden_states[-1], out.logits

    def pool(self, hidden, mask):
        import torch

        pooling = self.config["pooling"]
        if pooling == "mean":
            m = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * m).sum(dim=1) / m.sum(dim=1)
        if pooling == "cls":
            return hidden[:, 0]
        return hidden[torch.arange(len(hidden)), mask.sum(dim=1) - 1]  # last

    def prune(self, weights):
        """The artifact's sparse settings: the top-k weights above the threshold, as numpy (ids, values)."""
        settings = self.config["sparse"]
        values, ids = weights.topk(min(settings["top_k"] or weights.shape[1], weights.shape[1]), dim=1)
        keep = values > settings["threshold"]
        return [(i[k].numpy(), v[k].numpy()) for i, v, k in zip(ids, values, keep)]


def plain_encode(plain: PlainEncoder, texts: list[str], batch_size: int):
    """The plain loop over every text in input order: (dense [n, H], pruned sparse rows)."""
    dense, rows = [], []
    for start in range(0, len(texts), batch_size):
        d, sparse = plain.encode_batch(texts[start:start + batch_size])
        dense.append(d)
        rows.extend(sparse)
    return np.concatenate(dense), rows


def plain_encode_dense(plain: PlainEncoder, texts: list[str], batch_size: int) -> np.ndarray:
    return np.concatenate([plain.encode_dense_batch(texts[a:a + batch_size]) for a in range(0, len(texts), batch_size)])


def parity(ours, plain_dense: np.ndarray, plain_rows: list) -> dict:
    """Dense max abs diff; share of documents whose top-10 sparse terms agree; weight diff on those terms."""
    top_equal, weight_diff = 0, 0.0
    for vector, (ids, values) in zip(ours.sparse, plain_rows):
        our_top = vector.indices[np.argsort(-vector.values, kind="stable")[:TOP_TERMS]]
        plain_top = ids[np.argsort(-values, kind="stable")[:TOP_TERMS]]
        top_equal += set(our_top.tolist()) == set(plain_top.tolist())
        plain_weight = dict(zip(ids.tolist(), values.tolist()))
        our_weight = dict(zip(vector.indices.tolist(), vector.values.tolist()))
        weight_diff = max([weight_diff] + [abs(our_weight[t] - plain_weight.get(t, 0.0)) for t in our_top.tolist()])
    return {"dense_max_abs_diff": float(np.abs(ours.dense - plain_dense).max()),
            "sparse_top10_same_share": top_equal / len(plain_rows),
            "sparse_top10_weight_max_abs_diff": weight_diff}


def same_work(ours, plain_dense: np.ndarray, plain_rows: list, ours_dense_only: np.ndarray,
              plain_dense_only: np.ndarray) -> dict:
    """The fp32 vs plain parity figures; stops the run when the two disagree (they would time different work)."""
    check = parity(ours, plain_dense, plain_rows)
    check["dense_only_max_abs_diff"] = float(np.abs(ours_dense_only - plain_dense_only).max())
    if (max(check["dense_max_abs_diff"], check["dense_only_max_abs_diff"]) > DENSE_TOLERANCE
            or check["sparse_top10_same_share"] < 1.0):
        sys.exit(f"the two encoders disagree ({json.dumps(check)}): the plain loop no longer mirrors "
                 "DocumentEncoder for this artifact; fix PlainEncoder before timing")
    return check


def agreement(default, fp32) -> dict:
    """What the default dtype costs against float32: dense cosine (min) and sparse top-10 overlap (mean),
    the overlap taken over fp32's top terms (fewer than 10 for a very short document)."""
    cosines = (default.dense * fp32.dense).sum(axis=1)
    overlaps = []
    for a, b in zip(fp32.sparse, default.sparse):
        top_a = set(a.indices[np.argsort(-a.values, kind="stable")[:TOP_TERMS]].tolist())
        top_b = set(b.indices[np.argsort(-b.values, kind="stable")[:TOP_TERMS]].tolist())
        overlaps.append(len(top_a & top_b) / len(top_a) if top_a else float(not top_b))
    return {"dense_cosine_min": float(cosines.min()), "dense_cosine_mean": float(cosines.mean()),
            "sparse_top10_overlap_mean": float(np.mean(overlaps)), "sparse_top10_overlap_min": float(min(overlaps))}


def token_stats(plain: PlainEncoder, texts: list[str], batch_size: int) -> dict:
    """Real tokens per document and the plain loop's padded tokens per real token (ours pads less: sorted)."""
    lengths = [len(x) for x in plain.tokenizer(texts, truncation=True,
                                               max_length=plain.config["max_document_length"])["input_ids"]]
    padded = sum(max(lengths[a:a + batch_size]) * len(lengths[a:a + batch_size]) for a in range(0, len(lengths),
                                                                                              batch_size))
    return {"tokens_per_doc": float(np.mean(lengths)), "plain_padded_over_real_tokens": padded / sum(lengths)}


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", help="artifact directory (default: build artifacts/minilm once)")
    parser.add_argument("--cache", default=str(ROOT / "artifacts"), help="where a missing artifact is built")
    parser.add_argument("--corpus", default=str(ROOT / "data" / "scifact" / "corpus.jsonl.gz"))
    parser.add_argument("--limit", type=int, default=256, help="documents to encode (the corpus's first N)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per encoder and mode (best kept)")
    parser.add_argument("--threads", type=int, help="torch threads for all (default: torch's own choice)")
    args = parser.parse_args(argv)
    for name in ("limit", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def time_interleaved(runs: dict, repeats: int) -> tuple[dict, dict]:
    """Each callable `repeats` times, interleaved (a burst of load slows one pass, rarely every encoder's
    best): ({name: [seconds per pass]}, {name: first pass's output})."""
    seconds, first = {name: [] for name in runs}, {}
    for _ in range(repeats):
        for name, run in runs.items():
            stats, out = timed(run)
            seconds[name].append(stats["best_s"])
            first.setdefault(name, out)
    return seconds, first


def targets(default_dtype: str, speedups: dict, agree: dict) -> dict:
    """Pass/fail per target; the speed-up target depends on whether this machine's default is bf16."""
    bf16_cpu = default_dtype == "bfloat16"
    wanted = TARGET_BF16_SPEEDUP if bf16_cpu else TARGET_NO_REGRESSION
    return {
        "default_over_fp32": {"applies": "bf16 CPU" if bf16_cpu else "no native bf16: float32 default",
                              "min": wanted, "pass": speedups["default_over_fp32"]["dense_sparse"] >= wanted},
        "dense_cosine": {"min": TARGET_DENSE_COSINE, "pass": agree["dense_cosine_min"] >= TARGET_DENSE_COSINE},
        "sparse_top10_overlap": {"min": TARGET_TOP10_OVERLAP,
                                 "pass": agree["sparse_top10_overlap_mean"] >= TARGET_TOP10_OVERLAP},
        "fp32_over_plain": {"min": TARGET_SPEEDUP, "pass": speedups["fp32_over_plain"]["dense_sparse"] >= TARGET_SPEEDUP},
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from lightretriever.components import DocumentEncoder
    from lightretriever.components.backbones import NATIVE_BF16_FLAGS, cpu_flags

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]  # recorded: the figures mean little on a busy machine
    root = artifact_dir(args.artifact, args.cache, "minilm")
    texts, size = load_documents(Path(args.corpus), args.limit), args.batch_size
    default = DocumentEncoder.from_pretrained(root, device="cpu")  # no dtype: what every caller gets
    fp32 = DocumentEncoder.from_pretrained(root, device="cpu", dtype="float32")
    plain = PlainEncoder(root)
    runs = {"dense_sparse": {"default": lambda x: default.encode(x, batch_size=size, show_progress=False),
                             "fp32": lambda x: fp32.encode(x, batch_size=size, show_progress=False),
                             "plain": lambda x: plain_encode(plain, x, size)},
            "dense_only": {"default": lambda x: default.encode_dense(x, batch_size=size, show_progress=False),
                           "fp32": lambda x: fp32.encode_dense(x, batch_size=size, show_progress=False),
                           "plain": lambda x: plain_encode_dense(plain, x, size)}}
    for mode in runs.values():  # warm-up (thread pool, allocator): one untimed batch each
        for run in mode.values():
            run(texts[:size])
    flat = {f"{mode}/{name}": (lambda run=run: run(texts)) for mode, named in runs.items() for name, run in named.items()}
    seconds, out = time_interleaved(flat, args.repeats)
    check = same_work(out["dense_sparse/fp32"], *out["dense_sparse/plain"], out["dense_only/fp32"],
                      out["dense_only/plain"])
    agree = agreement(out["dense_sparse/default"], out["dense_sparse/fp32"])
    docs_per_s = {mode: {name: len(texts) / min(seconds[f"{mode}/{name}"]) for name in named}
                  for mode, named in runs.items()}
    speedups = {f"{a}_over_{b}": {mode: rates[a] / rates[b] for mode, rates in docs_per_s.items()}
                for a, b in (("default", "fp32"), ("fp32", "plain"), ("default", "plain"))}
    print(json.dumps({
        "benchmark": "document_speed", "artifact": str(root), "backbone": plain.config["backbone"],
        "sparse_head": plain.config["sparse_head"],
        "base_model": plain.config.get("provenance", {}).get("base_model"), "documents": len(texts),
        "batch_size": size, "repeats": args.repeats, "max_document_length": plain.config["max_document_length"],
        "default_dtype": str(default.dtype).removeprefix("torch."),
        "cpu_bf16_flags": sorted(cpu_flags() & NATIVE_BF16_FLAGS),
        "docs_per_s": docs_per_s, "speedup": speedups, "target": targets(str(default.dtype).removeprefix("torch."),
                                                                         speedups, agree),
        "agreement_default_vs_fp32": agree, "parity_fp32_vs_plain": {**check, "dense_tolerance": DENSE_TOLERANCE},
        "times_s": {"best": {name: min(runs_s) for name, runs_s in seconds.items()}, "runs": seconds},
        **token_stats(plain, texts, size), "load_avg_1m_before": load_before, "machine": machine(),
    }))


if __name__ == "__main__":
    main()
