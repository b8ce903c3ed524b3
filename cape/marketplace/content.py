"""A package's content, its content hash and its Ed25519 signature.

The content hash is the SHA-256 of a canonical JSON document (manifest, agent specs and the
SHA-256 of every other file), so the same package hashes alike whether it came as an archive or
as JSON. A signature signs the hash's hex text; the key is a raw 32-byte Ed25519 public key,
both base64 (docs/marketplace.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass
class PackageContent:
    """What a package holds, however it was uploaded."""

    manifest: Any
    agents: list[Any]
    files: dict[str, bytes] = field(default_factory=dict)
    signature: str | None = None
    public_key: str | None = None


def canonical(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(content: PackageContent) -> str:
    """The SHA-256 (hex) of the package's canonical form."""
    return hash_parts(content.manifest, content.agents, file_hashes(content.files))


def file_hashes(files: dict[str, bytes]) -> dict[str, str]:
    """The SHA-256 (hex) of every file, by path."""
    return {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())}


def hash_parts(manifest: Any, agents: list[Any], files: dict[str, str]) -> str:
    """The content hash from the parts a stored version keeps (files as their hashes)."""
    # Agents in a stable order: an archive lists them by file name, a JSON body as sent.
    document = {"manifest": manifest, "agents": sorted(agents, key=canonical), "files": files}
    return hashlib.sha256(canonical(document)).hexdigest()


def spec_hash(spec: dict[str, Any]) -> str:
    """The SHA-256 (hex) of one agent spec's canonical JSON."""
    return hashlib.sha256(canonical(spec)).hexdigest()


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The base64 raw public key of a private key."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign(key: Ed25519PrivateKey, digest: str) -> str:
    """The base64 signature of a content hash."""
    return base64.b64encode(key.sign(digest.encode())).decode()


def key_id(public_key: str) -> str:
    """A short fingerprint of a public key, as the catalogue shows it."""
    return "ed25519:" + hashlib.sha256(public_key.encode()).hexdigest()[:16]


def verify(public_key: str, signature: str, digest: str) -> str | None:
    """Why the signature of `digest` does not verify under `public_key`, or None when it does."""
    try:
        raw_key = base64.b64decode(public_key, validate=True)
        raw_sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return "the public key or the signature is not base64"
    if len(raw_key) != 32:
        return "the public key is not a raw 32-byte Ed25519 key"
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(raw_sig, digest.encode())
    except InvalidSignature:
        return "the signature does not verify against the package's content hash"
    return None
