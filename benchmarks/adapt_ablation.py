"""Ablation: zero-shot `build`, label-free `adapt`, `adapt --qrels` x dense / sparse / hybrid (each fusion) x time.

    python benchmarks/adapt_ablation.py [--dataset data/scifact] [--work artifacts/ablation] [--skip-labels]

What it runs, as a user would (the CLI, one process per step, so each time is a whole command's):
  1. `lightretriever build <packaged all-MiniLM-L6-v2> WORK/zero-shot`
  2. `lightretriever adapt WORK/zero-shot --corpus DATASET --out WORK/adapt`           (no labels, no queries)
  3. `lightretriever adapt WORK/zero-shot --corpus DATASET --qrels DATASET/qrels/train.tsv --index STORE
     --collection C --out WORK/adapt-labels` (C: the evaluation's index, whose vectors it reads)
  4. `lightretriever evaluate ART --dataset DATASET --fusion F --json …` after each step, every fusion; all three
     artifacts share one document encoder, so the corpus is indexed once (by the first evaluate) and reused.
Prints one JSON line per artifact x fusion, then a summary line {"fusion_mean": {fusion: mean hybrid nDCG@10}}:
the fusion with the best mean is the project's default (components/store/fusion.py DEFAULT_FUSION).
The test split is never trained on; step 3 uses the train split's labels.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import default_base, machine  # noqa: E402

FUSIONS = ("rrf", "dbsf", "linear")


def cli(*args: str) -> float:
    """Run `lightretriever ARGS`; its wall time in seconds (raises with its stderr on failure)."""
    script = Path(sys.executable).parent / "lightretriever"
    started = time.perf_counter()
    result = subprocess.run([str(script), *args], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"lightretriever {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return round(time.perf_counter() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/scifact")
    parser.add_argument("--work", default="artifacts/ablation")
    parser.add_argument("--store", default=None, help="store for the evaluation index (default: WORK/stores)")
    parser.add_argument("--skip-labels", action="store_true", help="leave out step 3 (adapt with train labels)")
    args = parser.parse_args()
    work, data = Path(args.work), Path(args.dataset)
    store = args.store or str(work / "stores")
    work.mkdir(parents=True, exist_ok=True)
    zero_shot, adapted, labelled = work / "zero-shot", work / "adapt", work / "adapt-labels"
    hybrid: dict[str, list[float]] = {f: [] for f in FUSIONS}

    def evaluate(name: str, artifact: Path, make_s: float) -> str:
        """Evaluate `artifact` with every fusion; returns the collection (the index) it searched."""
        for fusion in FUSIONS:
            out = work / f"{artifact.name}-{fusion}.json"
            modes = "full,dense,sparse,hybrid,bm25" if fusion == FUSIONS[0] else "hybrid"
            evaluate_s = cli("evaluate", str(artifact), "--dataset", str(data), "--fusion", fusion, "--modes", modes,
                             "--store", store, "--json", str(out))
            result = json.loads(out.read_text())
            hybrid[fusion].append(result["results"]["hybrid"]["ndcg@10"])
            row = {"benchmark": "adapt_ablation", "artifact": name, "fusion": fusion, "make_s": make_s,
                   "evaluate_s": evaluate_s,
                   **{f"{mode}_ndcg@10": round(r["ndcg@10"], 4) for mode, r in result["results"].items()}}
            print(json.dumps(row), flush=True)
        return result["collection"]

    # 1. zero-shot; its first evaluation writes the index every later step searches
    collection = evaluate("zero-shot", zero_shot, cli("build", default_base("minilm"), str(zero_shot), "--overwrite"))
    # 2. label-free, as a new user runs it: the corpus only, document vectors encoded (a 128-token sample)
    evaluate("adapt", adapted, cli("adapt", str(zero_shot), "--corpus", str(data), "--out", str(adapted), "--overwrite"))
    # 3. with the train split's labels, reading the index's own document vectors (--index): labelled positives
    #    are learned against the exact vectors the index holds (SciFact: 0.807 dense vs 0.794 from 128-token ones)
    if not args.skip_labels:
        evaluate("adapt + labels", labelled, cli(
            "adapt", str(zero_shot), "--corpus", str(data), "--qrels", str(data / "qrels" / "train.tsv"),
            "--index", store, "--collection", collection, "--out", str(labelled), "--overwrite"))
    means = {f: round(sum(v) / len(v), 4) for f, v in hybrid.items()}
    print(json.dumps({"benchmark": "adapt_ablation", "fusion_mean_hybrid_ndcg@10": means,
                      "best_fusion": max(means, key=means.get), "dataset": str(data), "machine": machine()}))


if __name__ == "__main__":
    main()
