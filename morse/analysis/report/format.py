"""Formatting helpers of the report: numbers, p-values, intervals, escaped HTML tables."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

__all__ = ["fmt", "fmt_ci", "fmt_p", "html_table", "is_missing", "normalise_name", "slug", "transposed"]


def is_missing(value: Any) -> bool:
    """None, NA and NaN (and nothing else) are missing."""
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(value: Any, digits: int = 3, signed: bool = False) -> str:
    """Number with fixed decimals; ``n/a`` for missing, ``inf`` kept readable."""
    if is_missing(value):
        return "n/a"
    value = float(value)
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def fmt_p(value: Any) -> str:
    """p-value with three decimals, ``<0.001`` below that."""
    if is_missing(value):
        return "n/a"
    value = float(value)
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_ci(diff: Any, low: Any, high: Any, digits: int) -> str:
    """``+0.012 [-0.003, +0.027]``."""
    return (f"{fmt(diff, digits, signed=True)} "
            f"[{fmt(low, digits, signed=True)}, {fmt(high, digits, signed=True)}]")  # fmt: skip


def html_table(frame: pd.DataFrame, index: bool = False) -> str:
    """Escaped HTML table (pandas escapes cells and labels); empty string for no rows."""
    if not len(frame):
        return ""
    return frame.to_html(index=index, escape=True, na_rep="n/a", border=0, classes=["data"])


def normalise_name(name: Any) -> str:
    """Case-, order- and separator-insensitive key: 'left kidney' == 'Kidney_Left'."""
    tokens = re.split(r"[\s_\-]+", str(name).strip().lower())
    return " ".join(sorted(t for t in tokens if t))


def slug(text: str) -> str:
    """A file-name-safe form of a dataset or backbone name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def transposed(frame: pd.DataFrame, keys: list[str], name: str = "setting") -> pd.DataFrame:
    """One column per row of ``frame`` (headed by its ``keys`` joined with " / "), one row per
    other column: a table of many settings becomes long instead of wider than the page."""
    if not len(frame):
        return frame
    present = [k for k in keys if k in frame.columns]
    headers = [" / ".join(str(v) for v in row) for row in frame[present].itertuples(index=False)]
    body = frame.drop(columns=present).T
    body.columns = headers
    return body.rename_axis(name).reset_index()
