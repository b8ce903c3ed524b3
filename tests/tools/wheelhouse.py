"""A local package index (PEP 503 `simple/` on disk) with real wheels and sdists, for pip tests.

`pip download --index-url file:///.../simple` reads it like PyPI, so `pip_install` tests run
offline and can serve what PyPI cannot promise (a package published only as an sdist).
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path


def _hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _wheel(name: str, version: str) -> tuple[str, bytes]:
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: cape-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [f"{path},{_hash(data)},{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{name}-{version}-py3-none-any.whl", buffer.getvalue()


def _sdist(name: str, version: str) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        setup = b"raise SystemExit('an sdist must never be built')\n"
        entry = tarfile.TarInfo(f"{name}-{version}/setup.py")
        entry.size = len(setup)
        archive.addfile(entry, io.BytesIO(setup))
    return f"{name}-{version}.tar.gz", buffer.getvalue()


def make_index(root: Path, wheels: dict[str, str], sdists: dict[str, str] | None = None) -> str:
    """Write an index with one wheel per `wheels` name (its version) and sdist-only `sdists`.

    Returns the index URL to give pip (`file://.../simple`).
    """
    simple = root / "simple"
    built = [(name, _wheel(name, v)) for name, v in wheels.items()]
    built += [(name, _sdist(name, v)) for name, v in (sdists or {}).items()]
    for name, (filename, data) in built:
        folder = simple / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / filename).write_bytes(data)
        (folder / "index.html").write_text(f'<a href="{filename}">{filename}</a>\n')
    links = "".join(f'<a href="{name}/">{name}</a>\n' for name, _ in built)
    (simple / "index.html").write_text(links)
    return simple.as_uri()
