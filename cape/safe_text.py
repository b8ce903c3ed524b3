r"""Text that a database or a UTF-8 response cannot hold: lone surrogates and NUL characters.

JSON can spell a lone UTF-16 surrogate (`"\ud800"`): Python decodes it into a string that
cannot be encoded as UTF-8, so once stored, every route rendering it fails. PostgreSQL refuses
NUL in text; SQLite stores it, but both must answer alike. Input carrying either is refused
naming the field (`bad_text_fields`); text we do not control (a model's answer, a web page)
gets U+FFFD instead of each lone surrogate (`clean`), and every JSON value the database stores
goes through `dumps_json`, the last line of defence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from cape.errors import InvalidInput

REPLACEMENT = "\ufffd"
MAX_REPORTED = 20  # fields named in one error; a pathological body need not list them all


def _surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udfff"


def problem(text: str) -> str | None:
    """What makes `text` unstorable (a NUL or a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    if any(_surrogate(char) for char in text):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone UTF-16 surrogate (e.g. \\ud800), which is not valid Unicode"
    return None


def bad_text_fields(value: Any, path: str) -> list[dict[str, str]]:
    """`{"field", "message"}` for each string (or key) under `value` that `problem` refuses.

    Fields are dotted paths from `path`, list items by index (`body.input.items.1.x`); a bad
    key is reported at the object holding it.
    """
    found: list[dict[str, str]] = []
    for field, message in _walk(value, path):
        found.append({"field": field, "message": message})
        if len(found) >= MAX_REPORTED:
            break
    return found


def check_text(value: Any, path: str, what: str = "invalid request") -> None:
    """Raise InvalidInput (422) naming every field of `value` that `problem` refuses."""
    if problems := bad_text_fields(value, path):
        said = "; ".join(dict.fromkeys(f"{p['field']} {p['message']}" for p in problems))
        raise InvalidInput(f"{what}: {said}", details=problems)


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if (message := problem(value)) is not None:
            yield path, message
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (message := problem(key)) is not None:
                yield path, f"has a key that {message}"
                continue  # the key cannot be part of a field name either
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}.{index}")


def clean_text(text: str) -> str:
    """`text` with surrogate pairs joined and each lone surrogate replaced by U+FFFD."""
    if not any(_surrogate(char) for char in text):
        return text
    # UTF-16 round trip: a high+low pair becomes its character, a lone one the replacement.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean(value: Any) -> Any:
    """`value` (JSON-like) with `clean_text` applied to every string and key."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    return value


def loads_json(text: str | bytes) -> Any:
    """A stored JSON value, with lone surrogates an older release stored as escapes replaced.

    Only text holding a surrogate escape is walked; rows written since never hold a lone one.
    """
    value = json.loads(text)
    if isinstance(text, str):
        escaped = "\\ud" in text or "\\uD" in text
    else:
        escaped = b"\\ud" in text or b"\\uD" in text
    return clean(value) if escaped else value


def dumps_json(value: Any) -> str:
    """JSON for a database column, never with a lone surrogate (the engines' serializer)."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(clean(value), ensure_ascii=False)
    return text
