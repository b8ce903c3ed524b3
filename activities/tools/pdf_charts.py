"""Charts of the pdf tool: matplotlib figures rendered to PNG bytes with the Agg canvas."""

from __future__ import annotations

import io
import threading
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from activities.tools.base import ToolError

MAX_CHARTS = 20
MAX_POINTS = 10_000
CHART_TYPES = ("line", "bar", "pie", "scatter")

# Figures are independent objects, but matplotlib's font and text caches are shared state.
_lock = threading.Lock()

CHART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{1,64}$",
            "description": "Name used to place the chart: an image with URL `chart:<id>`.",
        },
        "type": {"type": "string", "enum": list(CHART_TYPES)},
        "title": {"type": "string", "maxLength": 200},
        "labels": {
            "type": "array",
            "items": {"type": ["string", "number"]},
            "maxItems": MAX_POINTS,
            "description": "x values (line, bar, scatter) or slice names (pie).",
        },
        "series": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 100},
                    "values": {"type": "array", "items": {"type": "number"}},
                },
                "required": ["name", "values"],
                "additionalProperties": False,
            },
            "description": "One value per label in each series; a pie takes one series.",
        },
        "x_label": {"type": "string", "maxLength": 100},
        "y_label": {"type": "string", "maxLength": 100},
    },
    "required": ["id", "type", "labels", "series"],
    "additionalProperties": False,
}


def check_charts(charts: list[dict[str, Any]]) -> None:
    """Refuse what the schema cannot express: duplicate ids, mismatched lengths, bad pies."""
    if len(charts) > MAX_CHARTS:
        raise ToolError(f"{len(charts)} charts; the limit is {MAX_CHARTS}")
    seen: set[str] = set()
    for chart in charts:
        cid, labels = chart["id"], chart["labels"]
        if cid in seen:
            raise ToolError(f"chart id {cid!r} is used twice")
        seen.add(cid)
        for series in chart["series"]:
            if len(series["values"]) != len(labels):
                raise ToolError(
                    f"chart {cid!r}: series {series['name']!r} has {len(series['values'])} "
                    f"values for {len(labels)} labels"
                )
        if chart["type"] == "pie":
            values = chart["series"][0]["values"]
            if len(chart["series"]) != 1:
                raise ToolError(f"chart {cid!r}: a pie chart takes exactly one series")
            if any(v < 0 for v in values) or sum(values) <= 0:
                raise ToolError(f"chart {cid!r}: pie values must be non-negative, not all zero")


def render_chart(chart: dict[str, Any]) -> bytes:
    """One chart as PNG bytes (blocking; call it in a thread)."""
    figure = Figure(figsize=(7.0, 3.8), dpi=150, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    kind, series = chart["type"], chart["series"]
    labels = [str(label) for label in chart["labels"]]
    if kind == "pie":
        ax.pie(series[0]["values"], labels=labels, autopct="%1.0f%%", startangle=90)
        ax.set_aspect("equal")
    elif kind == "bar":
        width = 0.8 / len(series)
        for i, one in enumerate(series):
            positions = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
            ax.bar(positions, one["values"], width=width, label=one["name"])
        ax.set_xticks(range(len(labels)), labels)
    elif kind == "line":
        for one in series:
            ax.plot(labels, one["values"], marker="o", label=one["name"])
    else:
        xs = chart["labels"]
        for one in series:
            ax.scatter(xs, one["values"], label=one["name"])
    if kind != "pie":
        ax.set_xlabel(chart.get("x_label", ""))
        ax.set_ylabel(chart.get("y_label", ""))
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend()
    if chart.get("title"):
        ax.set_title(chart["title"])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def render_charts(charts: list[dict[str, Any]]) -> dict[str, bytes]:
    """PNG bytes of every chart by id; a chart matplotlib cannot draw becomes a ToolError."""
    out: dict[str, bytes] = {}
    with _lock:
        for chart in charts:
            try:
                out[chart["id"]] = render_chart(chart)
            except (ValueError, TypeError, RuntimeError) as exc:
                raise ToolError(f"chart {chart['id']!r} could not be drawn: {exc}") from None
    return out
