"""A small valid instance of a JSON Schema: what the demo model answers when JSON is asked for.

Covers what agents' output schemas use: `type` (one or a list), `const`, `enum` (the value the
request mentions, else the first), `default`, `examples`, `properties`/`required`/
`minProperties`, `items`/`prefixItems`/`minItems`/`uniqueItems`, string lengths, `format` and
`pattern` (from a few candidates), numeric bounds and `multipleOf`, `allOf`, `anyOf`/`oneOf` (the
first branch), `if`/`then`/`else` and local `$ref`s. Strings carry the caller's text, cut to fit.

Own code rather than a library: `jsf` draws random Faker data and `hypothesis-jsonschema` brings
Hypothesis into the runtime of `cape fake-llm`; the demo needs small, deterministic answers.
"""

from __future__ import annotations

import math
import re
from typing import Any

import jsonschema

FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "demo@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
CANDIDATES = ["docs/getting-started.md", "https://example.com/", "output/answer.md", "demo", "a"]


def instance_of(schema: dict[str, Any], text: str = "demo", hint: str = "") -> Any:
    """A small value that validates against `schema` (best effort for exotic keywords).

    Args:
        schema: The JSON Schema (draft 2020-12 keywords).
        text: What string values say (cut to their maxLength).
        hint: Text to pick enum values from: the first one it mentions wins.

    Returns:
        The instance, as plain JSON data.
    """
    return _Generator(schema, text, hint).value(schema)


class _Generator:
    def __init__(self, root: dict[str, Any], text: str, hint: str) -> None:
        self.root, self.text, self.hint = root, text, hint

    def value(self, schema: Any, index: int = 0) -> Any:
        if not isinstance(schema, dict):
            return None  # `true`: anything goes
        if "$ref" in schema:
            return self.value(self._resolve(str(schema["$ref"])), index)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._choice(list(schema["enum"]))
        known = [schema["default"]] if "default" in schema else []
        for example in [*known, *schema.get("examples", [])]:
            if _valid(example, schema, self.root):
                return example
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                return self.value({**_without(schema, key), **schema[key][0]}, index)
        kind = _kind(schema)
        result = getattr(self, f"_{kind}")(schema, index)
        if kind == "object":
            for part in schema.get("allOf", []):
                extra = self.value(part, index)
                if isinstance(extra, dict):
                    result = {**extra, **result}
            if "if" in schema:
                branch = "then" if _valid(result, schema["if"], self.root) else "else"
                extra = self.value(schema.get(branch, {}), index)
                if isinstance(extra, dict):
                    result = {**extra, **result}
        return result

    def _resolve(self, ref: str) -> Any:
        node: Any = self.root
        for part in ref.removeprefix("#").strip("/").split("/"):
            if part:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _choice(self, options: list[Any]) -> Any:
        for option in options:
            if isinstance(option, str) and option and option in self.hint:
                return option
        return options[0] if options else None

    def _object(self, schema: dict[str, Any], index: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        names = list(schema.get("required", []))
        for name in properties:
            if len(names) >= schema.get("minProperties", 0):
                break
            if name not in names:
                names.append(name)
        return {name: self.value(properties.get(name, {"type": "string"}), index) for name in names}

    def _array(self, schema: dict[str, Any], index: int) -> list[Any]:
        prefix = list(schema.get("prefixItems", []))
        items = schema.get("items", {})
        count = int(schema.get("minItems", 0))
        return [self.value(prefix[i] if i < len(prefix) else items, i) for i in range(count)]

    def _string(self, schema: dict[str, Any], index: int) -> str:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        suffix = f" {index + 1}" if index else ""  # items differ (uniqueItems)
        options = [FORMATS.get(str(schema.get("format")), "") or self.text + suffix]
        pattern = schema.get("pattern")
        if pattern is not None:
            options += [c + suffix for c in CANDIDATES] + CANDIDATES
        for option in options:
            text = option.ljust(low, ".")[:high]
            if pattern is None or re.search(str(pattern), text):
                return text
        return options[0][:high]

    def _integer(self, schema: dict[str, Any], index: int) -> int:
        return int(self._number(schema, index, step=1))

    def _number(self, schema: dict[str, Any], index: int, step: float = 0.0) -> float:
        # The smallest value the bounds allow, or 0 when it lies within them.
        low = schema.get("minimum")
        if "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + (step or 0.5)
        high = schema.get("maximum")
        if "exclusiveMaximum" in schema:
            high = schema["exclusiveMaximum"] - (step or 0.5)
        value = 0.0 if low is None else float(low)
        if high is not None and value > high:
            value = float(high)
        if step:
            value = math.ceil(value)
        if multiple := schema.get("multipleOf"):
            value = math.ceil(value / multiple) * multiple
        return value

    def _boolean(self, schema: dict[str, Any], index: int) -> bool:
        return False

    def _null(self, schema: dict[str, Any], index: int) -> None:
        return None


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _valid(value: Any, schema: Any, root: dict[str, Any]) -> bool:
    # Sub-schemas may hold `$ref`s into the root: validate with the root's definitions at hand.
    scoped = {**schema, "$defs": root.get("$defs", {})} if isinstance(schema, dict) else schema
    return bool(jsonschema.Draft202012Validator(scoped).is_valid(value))
