"""`report`: the two PNGs (real files: header, size, bar heights read back from the pixels, log-scale speed axis),
summary.md's numbers, errors that name the bad file, and the command line.

The results files are written here in the shape `evaluate --json` writes, with SciFact-like numbers: one
zero-shot run (no `full` mode, so no retention) and one trained run without `sparse`."""

from __future__ import annotations

import json
import struct
from math import log10
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from lightretriever.pipelines.report import (MODE_STYLE, ReportError, load_run, plot_ndcg_by_mode,
                                             plot_quality_vs_speed, write_report)


def mode(ndcg, recall, mrr, tokenize_s, encode_s, search_s, retention=None, queries=300):
    spent = (tokenize_s or 0.0) + encode_s + search_s
    return {"ndcg@10": ndcg, "recall@100": recall, "mrr@10": mrr, "retention": retention, "tokenize_s": tokenize_s,
            "encode_s": encode_s, "search_s": search_s, "queries": queries, "qps": queries / spent}


ZERO_SHOT = {
    "dataset": "scifact", "split": "test", "artifact": "artifacts/minilm", "queries": 300, "documents": 5183,
    "k": 100, "fusion": "rrf", "machine": {"cpu": "AMD EPYC", "cores": 2, "load_avg_1m": 1.21},
    "results": {
        "dense": mode(0.3120, 0.6828, 0.2850, 0.0230, 0.0050, 1.083),
        "sparse": mode(0.5255, 0.8457, 0.4993, 0.0384, 0.0074, 1.671),
        "hybrid": mode(0.4604, 0.8373, 0.4065, 0.0321, 0.0103, 1.289),
        "bm25": mode(0.6863, 0.9127, 0.6492, None, 0.0159, 0.107),  # BM25 has no tokenize step
    },
}
FULL_NDCG = 0.6451
TRAINED = {
    "dataset": "scifact", "split": "test", "artifact": "/runs/minilm-trained/", "queries": 300, "documents": 5183,
    "k": 100, "fusion": "rrf", "machine": {"cpu": "AMD EPYC", "cores": 2, "load_avg_1m": 0.8},
    "results": {
        "full": mode(FULL_NDCG, 0.9250, 0.6102, 0.0410, 21.70, 0.9900, retention=1.0),
        "dense": mode(0.5874, 0.9011, 0.5513, 0.0228, 0.0049, 1.051, retention=0.5874 / FULL_NDCG),
        "hybrid": mode(0.6637, 0.9340, 0.6240, 0.0330, 0.0101, 1.301, retention=0.6637 / FULL_NDCG),
        "bm25": mode(0.6863, 0.9127, 0.6492, None, 0.0160, 0.108, retention=0.6863 / FULL_NDCG),
    },
}


@pytest.fixture
def results(tmp_path) -> list[Path]:
    paths = [tmp_path / "zero_shot.json", tmp_path / "trained.json"]
    for path, data in zip(paths, (ZERO_SHOT, TRAINED)):
        path.write_text(json.dumps(data))
    return paths


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG signature and IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def colour_height(pixels: np.ndarray, hex_colour: str) -> int:
    """The tallest run of one colour in any pixel column: a bar's height in pixels."""
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    match = np.all(np.abs(pixels[..., :3] - rgb) < 0.02, axis=-1)
    return int(match.sum(axis=0).max())


def test_report_writes_two_pngs_and_a_summary(results, tmp_path):
    written = write_report(results, tmp_path / "report")
    assert {p.name for p in written.values()} == {"ndcg_by_mode.png", "quality_vs_speed.png", "summary.md"}
    for kind in ("ndcg", "speed"):
        width, height = png_size(written[kind])
        assert 700 <= width <= 3000 and 400 <= height <= 1500, (kind, width, height)
        assert written[kind].stat().st_size > 20_000  # drawn, not blank
        assert written[kind].parent == tmp_path / "report"


def test_bar_heights_follow_ndcg(tmp_path):
    import matplotlib.image

    path = tmp_path / "zero_shot.json"
    path.write_text(json.dumps(ZERO_SHOT))
    plot_ndcg_by_mode([load_run(path)], tmp_path / "bars.png")
    pixels = matplotlib.image.imread(tmp_path / "bars.png")
    heights = {m: colour_height(pixels, MODE_STYLE[m][0]) for m in ZERO_SHOT["results"]}
    # each bar's pixel height over BM25's equals its nDCG@10 over BM25's (a pixel of rounding)
    for m, h in heights.items():
        expected = ZERO_SHOT["results"][m]["ndcg@10"] / ZERO_SHOT["results"]["bm25"]["ndcg@10"]
        assert h / heights["bm25"] == pytest.approx(expected, abs=2 / heights["bm25"] + 0.01), m
    assert colour_height(pixels, MODE_STYLE["full"][0]) < 20  # no `full` run: only the legend's patch has its grey


def test_speed_plot_is_log_scale_with_one_point_per_mode_and_file(results, tmp_path):
    runs = [load_run(p) for p in results]
    figure = plot_quality_vs_speed(runs, tmp_path / "speed.png")
    ax = figure.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "queries / s (log scale)" and ax.get_ylabel() == "nDCG@10"
    points = {(round(float(line.get_xdata()[0]), 6), round(float(line.get_ydata()[0]), 6)) for line in ax.lines}
    expected = {(round(r["qps"], 6), r["ndcg@10"]) for d in (ZERO_SHOT, TRAINED) for r in d["results"].values()}
    assert points == expected and len(points) == 8
    labels = {t.get_text() for t in ax.texts}
    assert labels == {f"{m} [{i}]  {r['ndcg@10']:.3f}" for i, d in enumerate((ZERO_SHOT, TRAINED), start=1)
                      for m, r in d["results"].items()}
    # the full model is ~20x slower than the table lookup: a decade and more apart on the log axis
    full, dense = TRAINED["results"]["full"]["qps"], TRAINED["results"]["dense"]["qps"]
    assert log10(dense) - log10(full) > 1.2
    assert ax.get_xlim()[0] < full and ax.get_xlim()[1] > ZERO_SHOT["results"]["bm25"]["qps"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["full", "dense", "sparse", "hybrid", "bm25",
                      "[1] scifact · minilm", "[2] scifact · minilm-trained"]


def test_summary_holds_every_number(results, tmp_path):
    summary = write_report(results, tmp_path)["summary"].read_text(encoding="utf-8")
    rows = [line for line in summary.splitlines() if line.startswith("| [")]
    assert len(rows) == 8  # 4 modes per file
    for index, data in enumerate((ZERO_SHOT, TRAINED), start=1):
        for name, r in data["results"].items():
            row = next(line for line in rows if line.startswith(f"| [{index}] ") and f"| {name} |" in line)
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert cells[2:5] == [f"{r['ndcg@10']:.4f}", f"{r['recall@100']:.4f}", f"{r['mrr@10']:.4f}"]
            assert cells[5] == ("–" if r["retention"] is None else f"{r['retention']:.3f}")
            assert cells[6] == ("–" if r["tokenize_s"] is None else f"{r['tokenize_s']:.4f}")
            assert cells[9] == f"{r['qps']:,.1f}"
    assert "| [2] scifact · minilm-trained | full | 0.6451 |" in summary
    assert "load 1.21" in summary and "`trained.json`" in summary


def test_same_dataset_and_artifact_twice_is_told_apart_by_file_name(tmp_path):
    paths = [tmp_path / "rrf.json", tmp_path / "dbsf.json"]
    for path in paths:
        path.write_text(json.dumps(ZERO_SHOT))
    summary = write_report(paths, tmp_path / "out")["summary"].read_text(encoding="utf-8")
    assert "[1] scifact · minilm (rrf) | dense" in summary and "[2] scifact · minilm (dbsf) | dense" in summary


@pytest.mark.parametrize("content, message", [
    ("dense 0.31\n", "is not JSON"),
    (json.dumps({"dataset": "scifact"}), 'has no "results" object'),
    (json.dumps({"results": {"dense": {"qps": 270.1}}}), "mode 'dense' has no numeric \"ndcg@10\""),
])
def test_bad_files_are_named(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ReportError, match=message) as error:
        write_report([bad], tmp_path / "out")
    assert str(bad) in str(error.value) and "lightretriever evaluate" in str(error.value)
    assert not (tmp_path / "out").exists()  # nothing written from a bad input


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ReportError, match="cannot read results file .*nowhere.json"):
        write_report([tmp_path / "nowhere.json"], tmp_path / "out")


def test_command_line(results, tmp_path):
    out = tmp_path / "cli"
    done = run_cli("report", *map(str, results), "--out", str(out))
    assert done.stdout.splitlines() == [f"wrote {out / name}" for name in
                                        ("ndcg_by_mode.png", "quality_vs_speed.png", "summary.md")]
    assert png_size(out / "ndcg_by_mode.png")[0] > 700 and "| [1] scifact · minilm | bm25 |" in (
        out / "summary.md").read_text(encoding="utf-8")

    bad = tmp_path / "notes.txt"
    bad.write_text("not results")
    failed = run_cli("report", str(bad), "--out", str(out), check=False)
    assert failed.returncode == 2 and f"results file {bad} is not JSON" in failed.stderr


def test_labels_name_the_files_in_order(results, tmp_path):
    out = tmp_path / "labelled"
    run_cli("report", *map(str, results), "--out", str(out), "--label", "zero-shot", "--label", "table-only")
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| [1] zero-shot | dense |" in summary and "| [2] table-only | full |" in summary
    with pytest.raises(ReportError, match="1 labels for 2 results files"):
        write_report(results, tmp_path / "refused", labels=["only one"])
