"""Reading a package archive (tar.gz or zip) without trusting it.

Refused, each as a blocking finding of the `archive` step: a path that leaves the package (absolute
or with `..`), a symlink or hard link, any member that is not a regular file or folder, more
files than allowed, and a zip bomb: more uncompressed bytes than the limit, or a ratio of
uncompressed to compressed size above the limit. Sizes are counted while decompressing, never
taken from the archive's own headers.
"""

from __future__ import annotations

import gzip
import io
import json
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from cape.marketplace.content import PackageContent
from cape.marketplace.findings import Step

MANIFEST_FILES = ("cape-package.yaml", "cape-package.yml", "cape-package.json")
SIGNATURE_FILE = "signature.json"
AGENTS_DIR = "agents/"


@dataclass(frozen=True)
class ArchiveLimits:
    """The operator's limits on what one archive may unpack to."""

    max_bytes: int = 20 * 1024 * 1024
    max_ratio: float = 100.0
    max_files: int = 500


class _TooLarge(Exception):
    pass


def _safe_path(name: str, step: Step) -> str | None:
    clean = name.replace("\\", "/")
    while clean.startswith("./"):
        clean = clean[2:]
    path = PurePosixPath(clean)
    if clean.startswith("/") or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        step.block("path_traversal", name, "the path leaves the package (absolute or with '..')")
        return None
    return str(path) if clean not in ("", ".") else None


def _gunzip(data: bytes, limits: ArchiveLimits) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        while chunk := stream.read(64 * 1024):
            out.write(chunk)
            if out.tell() > limits.max_bytes:
                raise _TooLarge
    return out.getvalue()


def _tar_members(data: bytes, limits: ArchiveLimits, step: Step) -> dict[str, bytes]:
    raw = _gunzip(data, limits)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar.getmembers():
            path = _safe_path(member.name, step)
            if member.issym() or member.islnk():
                step.block("symlink", member.name, "links are not allowed in a package")
            elif not (member.isfile() or member.isdir()):
                step.block("special_file", member.name, "only regular files and folders")
            elif member.isfile() and path is not None:
                extracted = tar.extractfile(member)
                files[path] = extracted.read() if extracted is not None else b""
    return files


def _zip_members(data: bytes, limits: ArchiveLimits, step: Step) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            path = _safe_path(info.filename, step)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                step.block("symlink", info.filename, "links are not allowed in a package")
                continue
            if info.is_dir() or path is None:
                continue
            chunks = []
            with archive.open(info) as stream:
                while chunk := stream.read(64 * 1024):
                    total += len(chunk)
                    if total > limits.max_bytes:
                        raise _TooLarge
                    chunks.append(chunk)
            files[path] = b"".join(chunks)
    return files


def _load(name: str, data: bytes, step: Step) -> Any:
    try:
        text = data.decode("utf-8")
        return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        step.block("unreadable", name, f"cannot be read: {type(exc).__name__}: {exc}")
        return None


def read_archive(data: bytes, limits: ArchiveLimits, step: Step) -> PackageContent | None:
    """The content of a tar.gz or zip package; None when the step found it unsafe."""
    try:
        if data[:2] == b"\x1f\x8b":
            files = _tar_members(data, limits, step)
        elif data[:4] == b"PK\x03\x04":
            files = _zip_members(data, limits, step)
        else:
            step.block("not_an_archive", "body", "not a tar.gz or zip archive")
            return None
    except _TooLarge:
        step.block("zip_bomb", "body", f"unpacks to more than {limits.max_bytes} bytes")
        return None
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, zlib.error) as exc:
        step.block("corrupt_archive", "body", f"the archive cannot be read: {exc}")
        return None
    total = sum(len(v) for v in files.values())
    if data and total / len(data) > limits.max_ratio and total > 1024 * 1024:
        step.block(
            "zip_bomb",
            "body",
            f"unpacks {total / len(data):.0f}x its size (limit {limits.max_ratio:.0f}x)",
        )
    if len(files) > limits.max_files:
        step.block("too_many_files", "body", f"{len(files)} files (limit {limits.max_files})")
    if step.blocked:
        return None
    return _content(files, step)


def _content(files: dict[str, bytes], step: Step) -> PackageContent | None:
    found = [name for name in MANIFEST_FILES if name in files]
    if not found:
        step.block("no_manifest", "cape-package.yaml", "the archive has no cape-package.yaml")
        return None
    manifest = _load(found[0], files.pop(found[0]), step)
    agents = [
        _load(name, files.pop(name), step)
        for name in sorted(files)
        if name.startswith(AGENTS_DIR) and name.endswith((".yaml", ".yml", ".json"))
    ]
    signature: dict[str, Any] = {}
    if SIGNATURE_FILE in files:
        loaded = _load(SIGNATURE_FILE, files.pop(SIGNATURE_FILE), step)
        signature = loaded if isinstance(loaded, dict) else {}
    if step.blocked:
        return None
    return PackageContent(
        manifest=manifest,
        agents=agents,
        files=files,
        signature=signature.get("signature"),
        public_key=signature.get("public_key"),
    )


def build_archive(content: PackageContent) -> bytes:
    """A tar.gz of `content` in the layout `read_archive` expects (`cape pkg build`)."""
    out = io.BytesIO()
    members: dict[str, bytes] = {
        "cape-package.json": json.dumps(content.manifest, indent=2).encode()
    }
    for spec in content.agents:
        members[f"{AGENTS_DIR}{spec['name']}.json"] = json.dumps(spec, indent=2).encode()
    members.update(content.files)
    if content.signature:
        sig = {"signature": content.signature, "public_key": content.public_key}
        members[SIGNATURE_FILE] = json.dumps(sig).encode()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
