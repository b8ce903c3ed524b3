"""`cape pkg init|keygen|build|publish` as real processes against the real API."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

from tests.cape.test_cli_tasks import Result
from tests.conftest import Api
from tests.harness import ROOT


async def cape(*argv: str) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPE_API")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_init_sign_build_and_publish(api: Api, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    folder, key, archive = tmp_path / "pkg", tmp_path / "key.pem", tmp_path / "pkg.tar.gz"
    assert (await cape("pkg", "init", str(folder), "--name", name)).exit_code == 0
    made = await cape("pkg", "keygen", str(key))
    assert made.exit_code == 0 and "ed25519:" in made.stdout
    built = await cape("pkg", "build", str(folder), "--out", str(archive), "--key", str(key))
    assert built.exit_code == 0, built.output
    assert "1 agents, 1 files, signed" in built.stdout
    auth = ["--api-url", api.url, "--api-key", api.key]
    published = await cape("pkg", "publish", str(archive), *auth)
    assert published.exit_code == 0, published.output
    assert f"published {name} 1.0.0" in published.stdout
    assert "signature: passed" in published.stdout and "archive: passed" in published.stdout
    again = await cape("pkg", "publish", str(archive), *auth)
    assert again.exit_code != 0
    assert "manifest.version" in again.output
    shown = await api.http.get(f"/v1/marketplace/packages/{name}")
    assert shown.json()["versions"][0]["signed"] is True
    assert shown.json()["readme"].startswith(f"# {name}")
