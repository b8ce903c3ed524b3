"""`cape replay` over the committed corpus, a changed workflow, bad input and a real server.

The corpus test is how CI replays tests/replay/histories through the CLI on every run.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from temporalio.client import Client
from temporalio.worker import Worker

import worker.main
from cape.settings import Settings
from cli.replay import replay
from cli.testing.fake_llm import FakeLLMServer
from tests.conftest import Api
from tests.harness import ROOT, free_port, settings_env, wait_until
from tests.replay.changed_workflow import ReorderedAgentTaskWorkflow
from tests.replay.shapes import run_shape

CORPUS = ROOT / "tests" / "replay" / "histories"
FILES = sorted(CORPUS.rglob("*.json"))


def cape_replay(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(replay, list(args), env=env, catch_exceptions=False)


def started(path: Path) -> dict[str, Any]:
    attrs: dict[str, Any] = json.loads(path.read_text())["events"][0]
    return dict(attrs["workflowExecutionStartedEventAttributes"])


def first_event(path: Path, event_type: str, default: int | None = None) -> int:
    events = json.loads(path.read_text())["events"]
    found = next((int(e["eventId"]) for e in events if e["eventType"] == event_type), default)
    assert found is not None, f"{path} has no {event_type}"
    return found


def test_the_committed_corpus_replays() -> None:
    assert len(FILES) >= 8, "the corpus and its archive should both be there"
    result = cape_replay(str(CORPUS))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:-1] == [f"ok  {started(path)['workflowId']}" for path in FILES]
    assert lines[-1] == f"{len(FILES)} replayed, 0 non-deterministic"


def test_json_output_names_each_history() -> None:
    result = cape_replay("--json", *map(str, FILES[:2]))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["replayed"], report["non_deterministic"], report["failed"]) == (2, 0, 0)
    assert [h["source"] for h in report["histories"]] == [str(p) for p in FILES[:2]]
    assert [h["run_id"] for h in report["histories"]] == [
        started(p)["originalExecutionRunId"] for p in FILES[:2]
    ]
    assert {h["status"] for h in report["histories"]} == {"ok"}


def test_a_non_deterministic_change_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker.main, "WORKFLOWS", (ReorderedAgentTaskWorkflow,))
    result = cape_replay(str(CORPUS))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(FILES) + 1, result.output
    for path, line in zip(FILES, lines, strict=False):
        attrs = started(path)
        scheduled = first_event(path, "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED")
        marker = first_event(path, "EVENT_TYPE_MARKER_RECORDED", default=scheduled)
        if marker < scheduled:  # locks, a deadline: a patch marker comes first
            assert f"event {marker} MarkerRecorded core_patch " in line, line
            continue
        assert line.startswith(
            f"FAIL {attrs['workflowId']} run {attrs['originalExecutionRunId']}: "
            f"event {scheduled} ActivityTaskScheduled setup_workspace: "
        ), line
        assert "'setup_workspace' does not match" in line and "'finish_task'" in line
    assert lines[-1] == f"{len(FILES)} replayed, {len(FILES)} non-deterministic"


def test_a_divergence_later_in_the_history_is_located(tmp_path: Path) -> None:
    # As if an older release had run its tools through another activity: the history diverges
    # at the tool step, several workflow tasks in, not at the first command.
    data = json.loads((CORPUS / "tool_success.json").read_text())
    tool = next(
        e
        for e in data["events"]
        if e.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "run_tool"
    )
    tool["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "run_tool_v0"
    path = tmp_path / "older.json"
    path.write_text(json.dumps(data))
    result = cape_replay("--json", str(path))
    assert result.exit_code == 1, result.output
    [history] = json.loads(result.output)["histories"]
    assert history["status"] == "non_deterministic"
    assert history["event_id"] == int(tool["eventId"])
    assert history["event"] == "ActivityTaskScheduled run_tool_v0"
    completed = [
        int(e["eventId"])
        for e in data["events"]
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"
        and int(e["eventId"]) < int(tool["eventId"])
    ]
    assert history["workflow_task_event_id"] == completed[-1] > 4
    assert "'run_tool_v0' does not match" in history["message"]


def test_the_workflow_id_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    data = json.loads((CORPUS / "cancel.json").read_text())
    del data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"]
    path = tmp_path / "my-task.json"
    path.write_text(json.dumps(data))
    result = cape_replay(str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "ok  my-task"


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ('{"events": [', "not valid JSON"),
        ('{"history": []}', "not a workflow history (no 'events' list)"),
        ('{"events": [{"eventId": "1", "eventType": "NOT_AN_EVENT"}]}', "not a workflow history"),
    ],
    ids=["truncated", "no-events", "bad-event"],
)
def test_a_bad_file_is_a_usage_error_naming_it(
    tmp_path: Path, content: str, complaint: str
) -> None:
    bad = tmp_path / "nested" / "broken.json"
    bad.parent.mkdir()
    bad.write_text(content)
    result = cape_replay(str(CORPUS / "cancel.json"), str(tmp_path))
    assert result.exit_code == 2, result.output
    assert f"Error: {bad}: {complaint}" in result.output
    assert "Traceback" not in result.output and "ok  " not in result.output


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = cape_replay(str(tmp_path / "nowhere.json"))
    assert result.exit_code == 2, result.output
    assert "nowhere.json" in result.output and "does not exist" in result.output


def test_files_or_a_query_are_needed(tmp_path: Path) -> None:
    assert cape_replay().exit_code == 2
    assert cape_replay(str(CORPUS), "--query", "WorkflowId='x'").exit_code == 2
    result = cape_replay(str(tmp_path))
    assert result.exit_code == 2 and "no *.json" in result.output, result.output


def test_an_unreachable_server_is_a_clear_error() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = cape_replay("--query", "WorkflowId='x'", env={"TEMPORAL_ADDRESS": address})
    assert result.exit_code == 2, result.output
    assert f"Error: cannot reach Temporal at {address}" in result.output


def test_a_query_the_server_rejects_is_a_clear_error(settings: Settings) -> None:
    env = {"TEMPORAL_ADDRESS": settings.temporal_address, "TEMPORAL_NAMESPACE": "default"}
    result = cape_replay("--query", "NoSuchAttribute='x'", env=env)
    assert result.exit_code == 2, result.output
    assert "Error: listing workflows" in result.output and "NoSuchAttribute" in result.output


async def test_histories_from_the_server_replay(
    api: Api, worker: Worker, fake_llm: FakeLLMServer, client: Client, settings: Settings
) -> None:
    task_id = await run_shape(api.http, fake_llm, "tool_success")
    query = f"WorkflowId='{task_id}'"

    async def listed() -> bool:
        return len([w async for w in client.list_workflows(query)]) == 1

    await wait_until(listed, "the task in the visibility store")
    # A real process: the API and worker run in this event loop, the command runs its own.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "replay", "--query", query, "--json",
        cwd=ROOT, env=settings_env(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode() + err.decode()
    report = json.loads(out)
    run_id = (await client.get_workflow_handle(task_id).describe()).run_id
    assert report["replayed"] == 1 and report["non_deterministic"] == 0
    [history] = report["histories"]
    assert (history["workflow_id"], history["run_id"], history["status"]) == (task_id, run_id, "ok")
