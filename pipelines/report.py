"""`lightretriever report`: plots and a markdown table from `lightretriever evaluate --json` files.

Writes into OUT:
  ndcg_by_mode.png       nDCG@10 per mode, one group of bars per results file (dataset + artifact name);
  quality_vs_speed.png   nDCG@10 against queries/s (log scale), one colour and marker per mode, one fill
                         style per results file;
  summary.md             every number of every file and mode, as a markdown table (for the README).

A mode a file lacks is left out of its group; a missing number (retention without a `full` run, BM25's
tokenize time, qps) shows as "–" and a mode without qps has no point on the speed plot.
matplotlib draws through its Agg canvas directly: no display, no pyplot global state.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from lightretriever.components.errors import LightRetrieverError

# Same colour and marker for a mode in both plots (tab10 colours).
MODE_STYLE = {"full": ("#7f7f7f", "s"), "dense": ("#1f77b4", "o"), "sparse": ("#ff7f0e", "^"),
              "hybrid": ("#2ca02c", "D"), "bm25": ("#d62728", "v")}
OTHER_STYLE = ("#9467bd", "P")  # a mode this version does not know yet
FILLS = ("full", "none", "left", "bottom", "right", "top")  # one per results file on the speed plot
COLUMNS = (("ndcg@10", "nDCG@10", ".4f"), ("recall@100", "recall@100", ".4f"), ("mrr@10", "MRR@10", ".4f"),
           ("retention", "retention", ".3f"), ("tokenize_s", "tokenize s", ".4f"), ("encode_s", "encode s", ".4f"),
           ("search_s", "search s", ".3f"), ("qps", "queries/s", ",.1f"))
FILES = {"ndcg": "ndcg_by_mode.png", "speed": "quality_vs_speed.png", "summary": "summary.md"}


class ReportError(LightRetrieverError, ValueError):
    """A results file cannot be read or is not the JSON `lightretriever evaluate --json` writes."""


@dataclass
class Run:
    """One results file: its label on the plots and its per-mode numbers."""

    path: Path
    label: str  # "scifact · minilm"
    results: dict[str, dict]  # mode -> {"ndcg@10": ..., "qps": ..., ...}
    data: dict  # the whole file (split, queries, machine)


def write_report(paths: list[str | Path], out: str | Path, labels: list[str] | None = None) -> dict[str, Path]:
    """Read every results file, then write both plots and summary.md into `out`; {kind: path}.
    `labels` (one per file) replace the default "dataset · artifact directory" names."""
    if not paths:
        raise ReportError("no results file given: pass one or more `lightretriever evaluate --json` outputs")
    if labels and len(labels) != len(paths):
        raise ReportError(f"{len(labels)} labels for {len(paths)} results files: give one --label per file, in order")
    runs = [load_run(p) for p in paths]
    for run, label in zip(runs, labels or []):
        run.label = label
    runs = _unique_labels(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {kind: out / name for kind, name in FILES.items()}
    plot_ndcg_by_mode(runs, written["ndcg"])
    plot_quality_vs_speed(runs, written["speed"])
    written["summary"].write_text(summary_markdown(runs), encoding="utf-8")
    return written


# -- reading --------------------------------------------------------------------------------------

def load_run(path: str | Path) -> Run:
    """One results file, checked: every mode needs a numeric nDCG@10, everything else may be missing."""
    path = Path(path)
    fix = "pass a file written by `lightretriever evaluate ART --dataset DIR --json OUT`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read results file {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"results file {path} is not JSON ({exc}); {fix}") from exc
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not results:
        raise ReportError(f"results file {path} has no \"results\" object (mode -> metrics); {fix}")
    for mode, scores in results.items():
        if not isinstance(scores, dict) or not _is_number(scores.get("ndcg@10")):
            raise ReportError(f"results file {path}: mode {mode!r} has no numeric \"ndcg@10\"; {fix}")
    return Run(path, run_label(data, path), results, data)


def run_label(data: dict, path: Path) -> str:
    """dataset + the artifact directory's basename; the file's stem stands in for a missing part."""
    dataset = data.get("dataset") or path.stem
    artifact = Path(str(data.get("artifact") or "")).name or path.stem
    return f"{dataset} · {artifact}"


def _unique_labels(runs: list[Run]) -> list[Run]:
    """Two runs of the same dataset and artifact (e.g. two fusions) get their file name appended."""
    labels = [r.label for r in runs]
    for run in runs:
        if labels.count(run.label) > 1:
            run.label = f"{run.label} ({run.path.stem})"
    return runs


def mode_order(runs: list[Run]) -> list[str]:
    """Known modes in evaluate's order, then any other mode in order of appearance."""
    from .evaluate import MODES

    seen = list(dict.fromkeys(m for r in runs for m in r.results))
    return [m for m in MODES if m in seen] + [m for m in seen if m not in MODES]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- plots ----------------------------------------------------------------------------------------

def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: renders to PNG without a display
    return figure


def plot_ndcg_by_mode(runs: list[Run], out: Path):
    """Grouped bars: one group per run, one bar per mode (same slot in every group), value on each bar."""
    modes = mode_order(runs)
    width = 0.8 / len(modes)
    figure = _figure(max(6.0, 1.5 + len(runs) * (0.55 * len(modes) + 0.6)), 4.8)
    ax = figure.add_subplot()
    top = 0.0
    for slot, mode in enumerate(modes):
        xs = [i + (slot - (len(modes) - 1) / 2) * width for i, r in enumerate(runs) if mode in r.results]
        values = [r.results[mode]["ndcg@10"] for r in runs if mode in r.results]
        bars = ax.bar(xs, values, width * 0.92, label=mode, color=_style(mode)[0])
        ax.bar_label(bars, fmt="%.3f", padding=2, fontsize=7, rotation=90 if len(modes) * len(runs) > 12 else 0)
        top = max(top, *values)
    ax.set_xticks(range(len(runs)), [r.label.replace(" · ", "\n", 1) for r in runs])
    ax.set_ylim(0, max(top * 1.18, 0.05))  # head-room for the value labels
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"Retrieval quality by mode{_dataset_suffix(runs)}")
    ax.legend(title="mode", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over a bar
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    figure.savefig(out)
    return figure  # for a caller (or test) that inspects what was drawn


def plot_quality_vs_speed(runs: list[Run], out: Path):
    """nDCG@10 against queries/s on a log axis; colour/marker = mode, fill style = results file."""
    from matplotlib.lines import Line2D

    figure = _figure(9.0 if len(runs) > 1 else 8.0, 5.0)
    ax = figure.add_subplot()
    modes = mode_order(runs)
    several = len(runs) > 1
    labels: list[tuple[float, float, str]] = []
    for index, run in enumerate(runs):
        fill = FILLS[index % len(FILLS)]
        for mode in modes:
            qps = run.results.get(mode, {}).get("qps")
            if not _is_number(qps) or qps <= 0:  # no time recorded: a log axis cannot place it
                continue
            ndcg = run.results[mode]["ndcg@10"]
            colour, marker = _style(mode)
            ax.plot([qps], [ndcg], linestyle="none", marker=marker, markersize=9, color=colour,
                    markerfacecoloralt="white", fillstyle=fill, markeredgewidth=1.5)
            tag = f"{mode} [{index + 1}]" if several else mode
            labels.append((qps, ndcg, f"{tag}  {ndcg:.3f}"))
    _annotate_apart(ax, labels)
    ax.set_xscale("log")
    ax.set_xlabel("queries / s (log scale)")
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"Quality vs query speed{_dataset_suffix(runs)}")
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.25, y=0.12)  # room for the annotations at the edges
    handles = [Line2D([], [], linestyle="none", marker=_style(m)[1], color=_style(m)[0], label=m) for m in modes]
    if several:
        handles += [Line2D([], [], linestyle="none", marker="o", color="black", markerfacecoloralt="white",
                           fillstyle=FILLS[i % len(FILLS)], label=f"[{i + 1}] {r.label}") for i, r in enumerate(runs)]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over a point
    figure.savefig(out)
    return figure  # for a caller (or test) that inspects what was drawn


def _annotate_apart(ax, labels: list[tuple[float, float, str]]) -> None:
    """Label each point; labels of points close on the plot (same speed decade region, similar nDCG) are
    stacked 11 pt apart instead of printed over each other (several result files put the same mode's
    points side by side)."""
    placed: list[tuple[float, float]] = []
    for qps, ndcg, text in sorted(labels, key=lambda item: item[1]):
        near = sum(abs(math.log10(qps) - math.log10(q)) < 0.4 and abs(ndcg - n) < 0.03 for q, n in placed)
        ax.annotate(text, (qps, ndcg), xytext=(7, 4 + 11 * near), textcoords="offset points", fontsize=8)
        placed.append((qps, ndcg))


def _style(mode: str) -> tuple[str, str]:
    return MODE_STYLE.get(mode, OTHER_STYLE)


def _dataset_suffix(runs: list[Run]) -> str:
    """' — scifact (test)' when every run is on the same dataset and split; the groups say it otherwise."""
    names = {(r.data.get("dataset"), r.data.get("split")) for r in runs}
    if len(names) != 1:
        return ""
    dataset, split = names.pop()
    return (f" — {dataset}" + (f" ({split})" if split else "")) if dataset else ""


# -- summary.md -----------------------------------------------------------------------------------

def summary_markdown(runs: list[Run]) -> str:
    """One table row per run and mode, then where each run came from (machine, load)."""
    lines = ["# Retrieval results", "",
             "| results | mode | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    for index, run in enumerate(runs):
        for mode in mode_order(runs):
            if mode in run.results:
                cells = [_cell(run.results[mode].get(key), spec) for key, _, spec in COLUMNS]
                lines.append(f"| [{index + 1}] {run.label} | {mode} | " + " | ".join(cells) + " |")
    lines += ["", "Sources:", ""]
    lines += [f"{i + 1}. {_source(run)}" for i, run in enumerate(runs)]
    return "\n".join(lines) + "\n"


def _source(run: Run) -> str:
    data, machine = run.data, run.data.get("machine") or {}
    parts = [f"`{run.path.name}`", f"{data.get('dataset', '?')} {data.get('split', '')}".strip()]
    if data.get("queries") is not None:
        parts.append(f"{data['queries']} queries")
    if data.get("documents") is not None:
        parts.append(f"{data['documents']} documents")
    parts.append(f"artifact `{data.get('artifact', '?')}`")
    if data.get("fusion"):
        parts.append(f"hybrid fusion {data['fusion']}")
    if machine:
        load = machine.get("load_avg_1m")
        parts.append(f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
                     + (f", load {load:.2f}" if _is_number(load) else ""))
    return ", ".join(parts)


def _cell(value, spec: str) -> str:
    return format(value, spec) if _is_number(value) else "–"
