"""Reading a Prometheus scrape into samples, and the difference between two scrapes."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]


def parse(text: str) -> dict[Key, float]:
    """Every sample of a text exposition, by name and label set."""
    samples: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


async def scrape(url: str) -> dict[Key, float]:
    """GET a metrics endpoint (no key) and parse it."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: dict[Key, float], name: str, **labels: str) -> float:
    """The sample `name` with exactly `labels` (0 when absent: a counter not yet touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(
    before: dict[Key, float], after: dict[Key, float], name: str, **labels: str
) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of `name` whose labels include `labels` and that changed, with their deltas."""
    wanted = set(labels.items())
    deltas = {}
    for (sample, label_set), now in after.items():
        if sample == name and wanted <= label_set:
            delta = now - before.get((sample, label_set), 0.0)
            if delta:
                deltas[label_set] = delta
    return deltas
