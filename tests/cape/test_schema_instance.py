"""instance_of: small valid instances of JSON Schemas, checked with jsonschema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from cape.registry.builtin import load_builtin_specs
from cli.testing.schema_instance import instance_of

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "string", "minLength": 40}}},
    {"type": "string", "maxLength": 3},
    {"type": "string", "pattern": r"^(docs/\S+\.md|https?://\S+)$"},
    {"type": "string", "format": "date-time"},
    {"type": "integer", "exclusiveMinimum": 3, "multipleOf": 5},
    {"type": "number", "minimum": -2.5, "maximum": -1},
    {"type": "number", "exclusiveMaximum": 0},
    {"type": ["null", "boolean"]},
    {"type": "array", "minItems": 3, "uniqueItems": True, "items": {"type": "string"}},
    {"type": "array", "minItems": 2, "prefixItems": [{"const": 1}], "items": {"type": "null"}},
    {"anyOf": [{"type": "integer", "minimum": 7}, {"type": "string"}]},
    {"type": "object", "minProperties": 2, "properties": {"x": {}, "y": {"type": "boolean"}}},
    {"$defs": {"n": {"type": "integer", "minimum": 2}}, "properties": {"n": {"$ref": "#/$defs/n"}},
     "required": ["n"]},
    {"type": "object", "properties": {"kind": {"enum": ["a", "b"]}}, "required": ["kind"],
     "if": {"properties": {"kind": {"const": "a"}}}, "then": {"required": ["extra"]}},
    {"type": "object", "allOf": [{"required": ["p"]}, {"required": ["q"]}]},
    {"type": "string", "default": "kept", "minLength": 2},
    {"type": "string", "examples": ["x", "example"], "minLength": 2},
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_the_instance_validates(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema).validate(instance_of(schema, "demo text"))


def test_every_builtin_output_schema_gets_a_valid_instance() -> None:
    schemas = [s.output_schema for s in load_builtin_specs() if s.output_schema is not None]
    assert len(schemas) >= 5
    for schema in schemas:
        jsonschema.Draft202012Validator(schema).validate(instance_of(schema, "x" * 5000))


def test_strings_carry_the_text_and_enums_follow_the_hint() -> None:
    schema = {
        "type": "object",
        "required": ["answer", "domain"],
        "properties": {
            "answer": {"type": "string", "maxLength": 11},
            "domain": {"enum": ["workflow_automation", "security_audit"]},
        },
    }
    value = instance_of(schema, "hello world, again", hint='{"domain": "security_audit"}')
    assert value == {"answer": "hello world", "domain": "security_audit"}
    assert instance_of(schema)["domain"] == "workflow_automation"
    assert instance_of({"type": "string", "default": "kept"}) == "kept"
    assert (
        instance_of({"type": "string", "examples": ["x", "example"], "minLength": 2}) == "example"
    )
