"""`cape pkg init|keygen|build|publish`: make, sign and publish a marketplace package.

A package folder holds `cape-package.yaml`, `agents/*.yaml` and any other files
(docs/marketplace.md). `build` writes the tar.gz the API takes, signed with `--key` (an Ed25519
private key in PEM, from `keygen`); `publish` sends it and prints every pipeline step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.api_client import ApiClient, ApiError, api_command
from cli.formatting import echo_json
from cli.terminal import echo

SKIPPED = {"cape-package.yaml", "cape-package.yml", "cape-package.json", "signature.json"}
AGENT_TEMPLATE = """name: {name}-agent
version: 1.0.0
description: What this agent does.
system_prompt: |
  You help with {{{{ input.prompt }}}}.
tools: [write_file]
input_schema:
  type: object
  required: [prompt]
  properties:
    prompt: {{type: string}}
"""
MANIFEST_TEMPLATE = """name: {name}
version: 1.0.0
title: {name}
summary: One line about the package.
category: other
tags: []
license: MIT
permissions:
  tools: [write_file]
  network: []
dependencies: {{}}
"""


@click.group()
def pkg() -> None:
    """Make, sign and publish marketplace packages."""


@pkg.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="The package name (a-z, 0-9, '-').")
def init(folder: Path, name: str) -> None:
    """Write a package skeleton into FOLDER: manifest, one agent, README."""
    if (folder / "cape-package.yaml").exists():
        raise click.ClickException(f"{folder}/cape-package.yaml exists already")
    (folder / "agents").mkdir(parents=True, exist_ok=True)
    (folder / "cape-package.yaml").write_text(MANIFEST_TEMPLATE.format(name=name))
    (folder / "agents" / f"{name}-agent.yaml").write_text(AGENT_TEMPLATE.format(name=name))
    (folder / "README.md").write_text(f"# {name}\n\nWhat the package does and how to use it.\n")
    echo(f"wrote {folder}/cape-package.yaml, agents/{name}-agent.yaml and README.md")


@pkg.command("keygen")
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
def keygen(key_file: Path) -> None:
    """Write a new Ed25519 private key (PEM) to KEY_FILE and print its public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from cape.marketplace.content import key_id, public_key_text

    if key_file.exists():
        raise click.ClickException(f"{key_file} exists already")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    public = public_key_text(key)
    echo(f"public key {public} ({key_id(public)})")


def _load(path: Path) -> Any:
    import json

    import yaml

    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


@pkg.command("build")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--key", "key_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def build(folder: Path, out: Path, key_file: Path | None) -> None:
    """Pack FOLDER into a tar.gz at OUT, signed with --key when given."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from cape.marketplace.archive import build_archive
    from cape.marketplace.content import PackageContent, content_hash, public_key_text, sign

    found = [folder / n for n in ("cape-package.yaml", "cape-package.yml", "cape-package.json")]
    manifests = [p for p in found if p.exists()]
    if not manifests:
        raise click.ClickException(f"{folder} has no cape-package.yaml")
    agents, files = [], {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in SKIPPED or any(part.startswith(".") for part in Path(rel).parts):
            continue
        if rel.startswith("agents/") and path.suffix in (".yaml", ".yml", ".json"):
            agents.append(_load(path))
        else:
            files[rel] = path.read_bytes()
    content = PackageContent(_load(manifests[0]), agents, files)
    digest = content_hash(content)
    if key_file is not None:
        key = load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise click.ClickException(f"{key_file} is not an Ed25519 private key")
        content.signature, content.public_key = sign(key, digest), public_key_text(key)
    out.write_bytes(build_archive(content))
    signed = "signed" if content.signature else "unsigned"
    echo(f"wrote {out} ({len(agents)} agents, {len(files)} files, {signed}, sha256 {digest})")


@pkg.command("publish")
@click.argument("archive", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@api_command
def publish(api: ApiClient, archive: Path, as_json: bool) -> None:
    """Publish ARCHIVE (from `cape pkg build`) and print every pipeline step's findings."""
    response = api.http.post(
        "/v1/marketplace/packages",
        content=archive.read_bytes(),
        headers={"Content-Type": "application/gzip"},
    )
    if response.status_code >= 400:
        raise ApiError.from_response(response)
    answer = response.json()
    if as_json:
        echo_json(answer)
        return
    echo(f"published {answer['package']} {answer['version']} (quality {answer['quality']:g})")
    for step in answer["report"]:
        echo(f"  {step['step']}: {step['status']}")
        for finding in step["findings"]:
            echo(f"    {finding['severity']} {finding['code']} {finding['field']}: "
                 f"{finding['message']}")  # fmt: skip
        for case in step.get("cases") or []:
            echo(f"    case {case['index']} ({case['agent']}): task {case.get('task_id') or '-'}")


COMMANDS = [pkg]
