"""Alternating A/B figures for the in-process benchmarks: each in turn, then the medians."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Awaitable, Callable, Mapping


async def alternate(
    runs: Mapping[str, Callable[[], Awaitable[float]]], pairs: int, unit: str, digits: int = 1
) -> dict[str, list[float]]:
    """Run every measurement once per round, `pairs` rounds, printing each figure.

    Alternating keeps a drift of the machine (another process, the CPU's clock) from landing on
    one side only.
    """
    figures: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(pairs):
        for name, run in runs.items():
            figures[name].append(await run())
            sys.stdout.write(f"{name}: {figures[name][-1]:.{digits}f} {unit}\n")
    return figures


def medians(figures: Mapping[str, list[float]], digits: int = 1) -> str:
    """`name median ms, ...` for the summary line."""
    return ", ".join(f"{n} {statistics.median(v):.{digits}f} ms" for n, v in figures.items())
