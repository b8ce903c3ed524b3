"""The snapshot race end to end: the agent's own shell swaps a directory while steps snapshot.

In one turn the scripted model runs a racer in its sandbox next to several `write_file` calls,
each followed by a snapshot on the host. The racer watches `data/` with inotify: when the
snapshot opens it to list it, the racer exchanges it (renameat2 RENAME_EXCHANGE) with `link`, a
symlink to a root-only host directory holding the same names, and swaps back a little later.
Reading `data/secret.txt` by path after listing would then read the host canary. No snapshot
artifact, step or event may hold it, and no host file may change owner.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from cape.settings import Settings
from cli.testing.fake_llm import FakeLLMServer, Turn
from tests.conftest import Api
from tests.containment.conftest import Canary, files_under, tar_members
from tests.e2e.tooling import call, pretty, results, run_task
from tests.harness import stored

SNAPSHOTS = 6
RACE_TRIES = 3
DECOYS = 2000  # listed before secret.txt, in the workspace and in the host dir alike
RACER = """
import ctypes, os, select, time
libc = ctypes.CDLL(None, use_errno=True)
watch = libc.inotify_init1(0)
libc.inotify_add_watch(watch, b"data", 0x20)  # IN_OPEN of the directory itself
end = time.monotonic() + {seconds}
swaps = 0
while time.monotonic() < end:
    if not select.select([watch], [], [], 0.2)[0]:
        continue
    os.read(watch, 65536)
    swaps += libc.renameat2(-100, b"data", -100, b"link", 2) == 0
    time.sleep(0.3)
    libc.renameat2(-100, b"data", -100, b"link", 2)
    time.sleep(0.05)
    os.read(watch, 65536) if select.select([watch], [], [], 0)[0] else None
print("swaps", swaps)
"""

LOOP_RACER = """
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
end = time.monotonic() + {seconds}
swaps = 0
while time.monotonic() < end:
    for _ in range(1000):
        swaps += libc.renameat2(-100, b"{first}", -100, b"{second}", 2) == 0
print("swaps", swaps)
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Snapshots do not heartbeat yet (issue 11, class 4): give slow ones on a loaded machine
    # room, so the test is about what they hold, not how long they take.
    return settings.model_copy(update={"heartbeat_timeout_seconds": 60.0})


def _swaps(events: list[Any]) -> int:
    """How many exchanges the racer made (it prints `swaps N`), to know the race was run."""
    (raced,) = [r["content"] for r in results(events) if "swaps" in r["content"]]
    return int(re.findall(r"swaps (\d+)", raced)[0])


async def test_snapshots_never_hold_a_swapped_in_host_file(
    api: Api, worker: object, fake_llm: FakeLLMServer, settings: Settings, canary: Canary
) -> None:
    for n in range(1, DECOYS + 1):
        decoy = canary.host_dir / f"a-{n:05d}"
        decoy.touch(mode=0o600)
    # The racer and the writes run as parallel tool calls: on a loaded machine the snapshots
    # can all be done before the racer's sandbox has started. Containment is checked on every
    # try; tries go on until the race was really run.
    swaps = 0
    for _ in range(RACE_TRIES):
        swaps += await _race_snapshots(api, fake_llm, settings, canary)
        if swaps:
            break
    assert swaps >= 1  # the race did happen


async def _race_snapshots(
    api: Api, fake_llm: FakeLLMServer, settings: Settings, canary: Canary
) -> int:
    """One task racing its snapshots; asserts nothing leaked and returns the racer's swaps."""
    name = canary.host_file.name
    setup = (
        f"mkdir -p data && echo ordinary > data/{name} && ln -s {canary.host_dir} link"
        f" && cd data && seq -f a-%05g {DECOYS} | xargs touch"
    )
    racer = f"python3 -c '{RACER.format(seconds=15)}'"
    writes = [call("write_file", path=f"w{n}.txt", content=f"{n}\n") for n in range(SNAPSHOTS)]
    turns = [
        Turn(tool_calls=[call("shell", command=setup)]),
        Turn(tool_calls=[call("shell", command=racer, timeout_seconds=60), *writes]),
        Turn(content="done"),
    ]
    before = canary.owners()
    task = await run_task(api, fake_llm, turns, timeout=180)
    steps, events = await stored(settings, task["id"])
    stored_text = json.dumps([s.output for s in steps] + [e.data for e in events], default=str)
    assert not canary.leaked(stored_text.encode())
    archives = 0
    for path in files_under(settings.artifact_root / task["id"]):
        data = path.read_bytes()
        assert not canary.leaked(data), path
        if data[:2] == b"\x1f\x8b":
            archives += 1
            assert not any(canary.leaked(member) for member in tar_members(data)), path
    assert canary.owners() == before
    assert task["status"] == "succeeded", pretty(task)
    assert archives >= SNAPSHOTS
    return _swaps(events)


async def test_create_pdf_never_writes_outside_end_to_end(
    api: Api, worker: object, fake_llm: FakeLLMServer, settings: Settings, canary: Canary
) -> None:
    """`output/` swapped for a symlink to a host dir while PDFs render and are written."""
    setup = f"mkdir -p output && ln -s {canary.host_dir} link"
    racer = LOOP_RACER.format(seconds=15, first="output", second="link")
    pdfs = [
        call("create_pdf", output=f"report-{n}.pdf", markdown=f"# Report {n}\n")
        for n in range(SNAPSHOTS)
    ]
    turns = [
        Turn(tool_calls=[call("shell", command=setup)]),
        Turn(tool_calls=[call("shell", command=f"python3 -c '{racer}'"), *pdfs]),
        Turn(content="done"),
    ]
    listing, before = sorted(os.listdir(canary.host_dir)), canary.owners()
    task = await run_task(api, fake_llm, turns, timeout=180)
    assert sorted(os.listdir(canary.host_dir)) == listing
    assert canary.owners() == before
    assert task["status"] == "succeeded", pretty(task)
    _, events = await stored(settings, task["id"])
    assert _swaps(events) >= 1
