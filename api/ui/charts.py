"""Server-rendered bar charts: the numbers become rectangles in inline SVG, no library."""

from __future__ import annotations

from dataclasses import dataclass

from api.usage.schemas import UsageRow

ROW_HEIGHT = 22
LABEL_WIDTH = 170
BAR_WIDTH = 330


@dataclass(frozen=True)
class Bar:
    """One labelled bar: its value, its text and its length in pixels."""

    label: str
    value: float
    text: str
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart, laid out for the template."""

    title: str
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH


def bar_chart(rows: list[UsageRow], field: str, title: str) -> Chart:
    """Bars of `field` (`total_tokens` or `cost_usd`) of each usage row, scaled to the largest."""
    values = [float(getattr(row, field)) for row in rows]
    top = max(values, default=0.0) or 1.0
    bars = []
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        text = f"${value:.4f}" if field == "cost_usd" else f"{int(value):,}"
        label = row.key if len(row.key) <= 24 else row.key[:23] + "…"
        bars.append(Bar(label, value, text, i * ROW_HEIGHT, value / top * BAR_WIDTH))
    return Chart(title, bars, max(len(bars), 1) * ROW_HEIGHT)
