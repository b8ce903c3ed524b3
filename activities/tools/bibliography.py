"""A research call's bibliography: numbered Markdown for people, CSL-JSON for reference managers.

CSL-JSON (the Citation Style Language's data format) is what Zotero, Pandoc's citeproc and
most reference managers import; each source is an item of type `webpage` whose `id` is its
number in the notes (`ref1`, `ref2`...), so `[1]` in an answer and `ref1` name the same page.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from activities.tools.research_notes import Source

_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


def date_parts(value: str) -> list[int] | None:
    """`2024-05-01` -> [2024, 5, 1] (year or year-month alone too); None when unreadable."""
    match = _DATE.match(value.strip())
    if not match:
        return None
    return [int(part) for part in match.groups() if part]


def csl_item(number: int, source: Source) -> dict[str, Any]:
    """One source as a CSL-JSON `webpage` item."""
    item: dict[str, Any] = {
        "id": f"ref{number}",
        "type": "webpage",
        "title": source.title or source.url,
        "URL": source.url,
        "container-title": source.sitename or urlsplit(source.url).hostname or "",
        "accessed": {"date-parts": [date_parts(source.retrieved_at)]},
    }
    if source.author:
        item["author"] = [{"literal": name.strip()} for name in source.author.split(";")]
    if source.date and (issued := date_parts(source.date)):
        item["issued"] = {"date-parts": [issued]}
    return item


def csl_json(sources: list[Source]) -> str:
    """The bibliography as a CSL-JSON array, numbered as in the notes."""
    items = [csl_item(n, s) for n, s in enumerate(sources, 1)]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def reference(number: int, source: Source) -> str:
    """`[1] Author. Title. Site, date. URL (retrieved ...)`."""
    parts = [f"[{number}]"]
    if source.author:
        parts.append(f"{source.author}.")
    parts.append(f"“{source.title or source.url}”.")
    site = source.sitename or urlsplit(source.url).hostname or ""
    if site:
        parts.append(f"{site}{', ' + source.date if source.date else ''}.")
    parts.append(f"<{source.url}> (retrieved {source.retrieved_at}).")
    return " ".join(parts)


def markdown(question: str, sources: list[Source], today: date | None = None) -> str:
    """The bibliography as Markdown: the question, then one numbered reference per line."""
    when = (today or date.today()).isoformat()
    lines = [f"# Bibliography: {question}", "", f"Compiled {when} by the research tool.", ""]
    lines.extend(f"{reference(n, s)}  " for n, s in enumerate(sources, 1))
    return "\n".join(lines) + "\n"
