"""Packages for the marketplace tests: valid ones, signed ones, and ways to break them."""

from __future__ import annotations

import copy
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cape.marketplace.content import PackageContent, content_hash, public_key_text, sign
from tests.e2e.agent_support import PROMPT_INPUT


def agent(name: str, **fields: Any) -> dict[str, Any]:
    """A valid agent spec of a package."""
    spec: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "description": "summarizes release notes",
        "system_prompt": "You summarize release notes for {{ input.prompt }}.",
        "tools": ["write_file"],
        "input_schema": PROMPT_INPUT,
    }
    spec.update(fields)
    return spec


def manifest(name: str, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    """A valid manifest."""
    data: dict[str, Any] = {
        "name": name,
        "version": version,
        "title": f"Release notes {name}",
        "summary": "Turns a changelog into release notes",
        "readme": "# Release notes\n\nSummarizes changelogs.",
        "category": "productivity",
        "tags": ["writing", "release"],
        "license": "MIT",
        "permissions": {"tools": ["write_file"]},
    }
    data.update(fields)
    return data


def package(
    name: str,
    version: str = "1.0.0",
    agents: list[dict[str, Any]] | None = None,
    files: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A JSON package body."""
    return {
        "manifest": manifest(name, version, **fields),
        "agents": agents if agents is not None else [agent(f"{name}-agent")],
        "files": files or {},
    }


def signed(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The body with its Ed25519 signature and public key."""
    files = {path: text.encode() for path, text in body.get("files", {}).items()}
    digest = content_hash(PackageContent(body["manifest"], body["agents"], files))
    return {**body, "signature": sign(key, digest), "public_key": public_key_text(key)}


def content_of(body: dict[str, Any]) -> PackageContent:
    """The JSON body as package content (for archives)."""
    files = {path: text.encode() for path, text in body.get("files", {}).items()}
    return PackageContent(
        copy.deepcopy(body["manifest"]),
        copy.deepcopy(body["agents"]),
        files,
        body.get("signature"),
        body.get("public_key"),
    )
