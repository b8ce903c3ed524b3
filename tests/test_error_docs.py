"""The error table of docs/api.md lists what the API answers, and nothing it never answers."""

from __future__ import annotations

import re
from pathlib import Path

import api.app  # noqa: F401  (loads every route module, so every error class is defined)
from api.errors import _http_error
from cape.errors import CapeError

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \|", re.MULTILINE)
# Answered by the HTTP-error handler (unknown route, method, body size), not by a CapeError.
FRAMEWORK_CODES = {"not_found", "method_not_allowed", "payload_too_large"}


def _subclasses(cls: type[CapeError]) -> list[type[CapeError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _source() -> str:
    files = [
        p for d in ("api", "cape", "activities", "workflows") for p in (ROOT / d).rglob("*.py")
    ]
    return "\n".join(p.read_text() for p in files)


def test_every_documented_error_is_answered_somewhere() -> None:
    table = ROW.findall((ROOT / "docs" / "api.md").read_text())
    assert len(table) >= 10, table
    source = _source()
    raised = {
        cls.code
        for cls in _subclasses(CapeError)
        if re.search(rf"(?<!class ){cls.__name__}\(", source)
    }
    assert _http_error.__name__ in source
    for status, code in table:
        answered = code in raised or code in FRAMEWORK_CODES
        assert answered, f"docs/api.md lists {status} {code!r}, which nothing answers"
        classes = [c for c in _subclasses(CapeError) if c.code == code]
        assert all(c.status_code == int(status) for c in classes), (code, classes)


def test_rate_limiting_is_documented_with_retry_after() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    assert "| 429 | `rate_limited` |" in text and "Retry-After" in text
