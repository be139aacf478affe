"""Plots (PNG) and a markdown table from one or more `evaluate --json` results: quality per mode,
and quality against query cost, so that artifacts and datasets compare side by side."""

from __future__ import annotations

NAME = "report"
HELP = "plots (PNG) and a markdown table from `evaluate --json` results"


def add_arguments(parser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULTS", help="JSON files written by `evaluate --json`")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the PNGs and summary.md")
    parser.add_argument("--label", action="append", metavar="NAME",
                        help="name of each results file on the plots, in order (default: dataset · artifact directory)")


def run(args) -> None:
    from ..report import write_report  # matplotlib loads on use

    for path in write_report(args.results, args.out, args.label).values():
        print(f"wrote {path}")
