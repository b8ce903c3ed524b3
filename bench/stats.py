"""Percentiles, "median [min - max]" over repeats, and the summary table every script ends with."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """`median  [min - max]` of the repeats' values (just the value when there is one)."""
    if len(values) == 1:
        return fmt.format(values[0])
    return (
        f"{fmt.format(statistics.median(values))}  "
        f"[{fmt.format(min(values))} - {fmt.format(max(values))}]"
    )


def compact(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """`median [min-max]`, the form of the tables in docs/performance.md."""
    if len(values) == 1:
        return fmt.format(values[0])
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{fmt.format(statistics.median(values))} [{low}-{high}]"


def print_summary(
    title: str, rows: Sequence[tuple[str, str, str]], notes: Sequence[str] = ()
) -> None:
    """A Markdown table (figure | value | target) to paste into docs/performance.md."""
    print(f"\nSummary: {title}\n")
    print("| figure | median [min-max] | target |")
    print("|---|---|---|")
    for label, value, target in rows:
        print(f"| {label} | {value} | {target} |")
    for note in notes:
        print(f"\n{note}")
    print(flush=True)


def verdict(value: float, limit: float, higher_is_better: bool = False) -> str:
    """`ok` or `MISSED` against a target."""
    met = value >= limit if higher_is_better else value <= limit
    return "ok" if met else "MISSED"
