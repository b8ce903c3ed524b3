"""`cape agents ...` as real processes against the real API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import yaml

from tests.cape.test_cli_tasks import Result
from tests.conftest import Api
from tests.harness import ROOT
from tests.registry.conftest import spec, unique


async def agents(api: Api, command: str, *args: str, key: str | None = None) -> Result:
    """Run `python -m cli agents COMMAND --api-url .. --api-key .. ARGS` as a process."""
    argv = ["agents", command, "--api-url", api.url, "--api-key", key or api.key, *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPE_API")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *argv, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def ok(api: Api, command: str, *args: str) -> str:
    result = await agents(api, command, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_the_lifecycle_from_the_command_line(api: Api, tmp_path: Path) -> None:
    name = unique("cli")
    spec_file = tmp_path / "agent.yaml"
    spec_file.write_text(yaml.safe_dump(spec(name, "1.0.0", tags=["cli"])))
    assert (await ok(api, "create", "-f", str(spec_file))).strip() == f"{name} 1.0.0 (draft)"
    assert (await ok(api, "publish", name, "1.0.0")).strip() == f"published {name} 1.0.0"
    json_file = tmp_path / "agent.json"
    json_file.write_text(json.dumps(spec(name, "1.1.0", tags=["cli"])))
    created = json.loads(await ok(api, "create", "-f", str(json_file), "--publish", "--json"))
    assert created["version"]["status"] == "published"

    listed = (await ok(api, "ls", "--name", name)).splitlines()
    assert listed[0].split() == [
        "NAME", "DEFAULT", "LATEST", "OWNER", "CATEGORY", "TAGS", "DESCRIPTION",
    ]  # fmt: skip
    assert listed[1].split()[:6] == [name, "1.1.0", "1.1.0", "tester", "general", "cli"]
    as_json = json.loads(await ok(api, "ls", "--tag", "cli", "--name", name, "--json"))
    assert [a["name"] for a in as_json["items"]] == [name]

    deprecated = await ok(
        api, "deprecate", name, "1.0.0", "--reason", "too slow", "--successor", "1.1.0"
    )
    assert deprecated.strip() == f"deprecated {name} 1.0.0"
    assert (await ok(api, "default", name, "1.0.0")).strip() == f"{name} default version: 1.0.0"
    assert (await ok(api, "yank", name, "1.1.0", "--reason", "broken")).strip().startswith("yanked")
    shown = await ok(api, "show", name)
    assert "default:  1.0.0 (set)" in shown
    assert "too slow (use 1.1.0)" in shown and "broken" in shown
    versions = (await ok(api, "versions", name)).splitlines()
    assert [line.split()[:2] for line in versions[1:]] == [
        ["1.0.0", "deprecated"], ["1.1.0", "yanked"],
    ]  # fmt: skip

    # Export (default version) and import under a new version round-trips the spec.
    exported = await ok(api, "export", name)
    assert exported.startswith(f"name: {name}\nversion: 1.0.0\n")
    out = tmp_path / "exported.yaml"
    wrote = await agents(api, "export", name, "1.0.0", "-o", str(out))
    assert wrote.exit_code == 0 and out.read_text() == exported
    out.write_text(exported.replace("version: 1.0.0", "version: 2.0.0"))
    assert (await ok(api, "import", str(out), "--publish")).strip() == f"{name} 2.0.0 (published)"
    schemas = json.loads(await ok(api, "schema", name, "2.0.0"))
    assert schemas["input_schema"]["required"] == ["prompt"]


async def test_triggers_and_errors(api: Api, tmp_path: Path) -> None:
    name = unique("cli")
    event = f"{unique('evt')}.done"
    spec_file = tmp_path / "agent.yaml"
    triggers = [{"event": event, "filter": {"env": "prod"}}]
    spec_file.write_text(yaml.safe_dump(spec(name, triggers=triggers)))
    await ok(api, "create", "-f", str(spec_file), "--publish")
    lines = (await ok(api, "triggers", event)).splitlines()
    assert lines[1].split()[:3] == [name, "1.0.0", "tester"] and "prod" in lines[1]
    assert "no agent is triggered" in await ok(api, "triggers", f"{event}.nothing")

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: {name}\nversion: one\nsystem_prompt: hi\ncolour: red\n")
    failed = await agents(api, "create", "-f", str(bad))
    assert failed.exit_code == 1
    assert "error: invalid_input" in failed.stderr
    assert "spec.version:" in failed.stderr and "spec.colour:" in failed.stderr
    builtin = await agents(api, "yank", "assistant", "0.1.0", "--reason", "x")
    assert builtin.exit_code == 1 and "read-only" in builtin.stderr
    missing = await agents(api, "show", unique("missing"))
    assert missing.exit_code == 1 and "not_found" in missing.stderr
