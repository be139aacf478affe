"""argparse types for numbers that have a meaningful range, so a wrong value stops at the command line
(exit 2, "argument --batch-size: must be a positive integer, got 0") instead of indexing nothing or
training on NaN. Floats must be finite: float("nan") and float("inf") parse, but mean nothing here."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    return _bounded(_int(text), 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _bounded(_int(text), 0, "an integer >= 0")


def positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    return _bounded(_float(text), 0.0, "a number >= 0")


def fraction(text: str) -> float:
    """A number in [0, 1] (a ratio such as --warmup-ratio)."""
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _bounded(value, low, what: str):
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value
