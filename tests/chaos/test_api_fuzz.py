"""Schemathesis against the live API: no operation answers 5xx or hangs, whatever it gets.

The API runs as a real `cape api` process; the schema is its own /openapi.json, so the test
covers whatever routes exist. Every operation gets a bounded, derandomized number of valid
(positive) and invalid (negative) requests with a valid bearer key. A server error or a
request that outlives the timeout is a failure; all of them are collected and reported.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from temporalio.client import Client

from cape.settings import Settings
from migrations.apply import upgrade
from tests.chaos.support import LIMIT, Tally, fleet
from tests.harness import drop_database, free_port, make_database, new_api_key, wait_http
from tests.locks.support import wait_polling

# 113 operations x 2 modes x 25 examples took ~160 s on a loaded 2-core machine: the pytest
# timeout, when it fired mid-run, showed up as a FlakyFailure of whichever operation was running.
pytestmark = [pytest.mark.timeout(420), pytest.mark.database]
MAX_EXAMPLES = 25  # per operation and generation mode
REQUEST_TIMEOUT = 10.0  # seconds: a request still open then counts as a hang
# A stream that opens (200) sends pings until its `timeout` (300 s unless the case sets one);
# schemathesis reads an event stream until the read timeout passes in total. Its status is all
# the check needs: 2 s of it is enough (10 s each cost 70 of this test's 190 s).
STREAM_READ_SECONDS = 2.0
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
Operation = schemathesis.APIOperation[Any, Any, Any, Any]


@pytest.fixture
async def live_api(
    settings: Settings, client: Client, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """A `cape api` process on a database of its own: its base URL and a valid key.

    What the fuzzer manages to create (agents, schedules) stays out of the session database
    the other tests share.
    """
    admin = os.environ.get("CAPE_TEST_DATABASE_URL")
    url, name = make_database(admin, tmp_path)
    # Lock requests that wait answer within a second here (they are answered by the lock's
    # workflow, so a worker runs beside the API): the fuzzer's requests time out at 10 s.
    mine = settings.model_copy(
        update={"api_port": free_port(), "database_url": url, "lock_block_seconds": 1.0}
    )
    await asyncio.to_thread(upgrade, mine)
    key = await new_api_key(mine, owner="fuzzer")
    try:
        with fleet(tmp_path) as procs:
            procs.start("worker", "worker", mine)
            procs.start("api", "api", mine)
            await wait_http(f"http://127.0.0.1:{mine.api_port}/healthz", LIMIT)
            # Until the worker polls, a lock request is a 503 `no_worker`, a server error.
            await wait_polling(client, mine.task_queue, LIMIT)
            yield f"http://127.0.0.1:{mine.api_port}", key
    finally:
        if admin and name:
            drop_database(admin, name)


def fuzz(
    operation: Operation,
    mode: GenerationMode,
    base: str,
    headers: dict[str, str],
    calls: Counter[int],
) -> None:
    """Run `MAX_EXAMPLES` requests of `mode` against `operation`; raises on the first failure."""
    streams = operation.path.endswith("/stream")
    timeout = (REQUEST_TIMEOUT, STREAM_READ_SECONDS) if streams else REQUEST_TIMEOUT

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Operation]) -> None:
        try:
            response = case.call(base_url=base, headers=headers, timeout=timeout)
        except requests.Timeout as exc:
            curl = case.as_curl_command()
            raise AssertionError(f"no answer within {timeout} s: {curl}") from exc
        calls[response.status_code] += 1
        case.validate_response(response, checks=[not_a_server_error])

    run()


def test_no_operation_answers_a_server_error(live_api: tuple[str, str]) -> None:
    base, key = live_api
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    tally = Tally("api-fuzz")
    calls: Counter[int] = Counter()
    failures: dict[str, str] = {}
    skipped = 0
    operations: list[Operation] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the API's own schema is invalid: {result}"
        operations.append(result.ok())
    for operation in operations:
        # A stream answers for as long as it was asked to (`timeout`, up to an hour): its valid
        # requests cannot end within the fuzzer's time limit; its refusals are fuzzed.
        for mode in (GenerationMode.NEGATIVE,) if operation.path.endswith("/stream") else MODES:
            try:
                fuzz(operation, mode, base, headers, calls)
            except hypothesis.errors.Unsatisfiable:
                skipped += 1  # no invalid input exists (an operation without parameters)
            # Every failing operation is reported, not only the first (schemathesis raises a
            # FailureGroup, a BaseExceptionGroup).
            except (Exception, BaseExceptionGroup) as exc:
                label = f"{operation.label} [{mode.value}]"
                failures[label] = f"{type(exc).__name__}: {exc}"[:1500]
    tally.tasks = len(operations)
    tally.faults = sum(calls.values())
    tally.lost = len(failures)
    tally.problems = {label: [text] for label, text in failures.items()}
    # tasks = operations, faults = requests sent, lost = operations that failed.
    tally.extra = {"no_negative_input": skipped}
    tally.extra.update({f"http_{code}": n for code, n in sorted(calls.items())})
    message = tally.report()
    assert not failures, message
    assert {"/v1/tasks", "/v1/tasks/{task_id}"} <= {op.path for op in operations}, message


async def test_a_nul_character_is_invalid_input_not_an_outage(live_api: tuple[str, str]) -> None:
    # Found by the fuzzer on PostgreSQL, whose text fields refuse NUL: the DataError was
    # answered as "database unavailable" (503) instead of a 422 naming the input.
    base, key = live_api
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT) as http:
        listed = await http.get("/v1/tasks", params={"agent": "a\x00b"})
        body = {"agent": "assist\x00ant", "input": {"prompt": "hi"}}
        created = await http.post("/v1/tasks", json=body)
    # A body is checked before any database sees it: the same 422 on both.
    assert created.status_code == 422, created.text
    assert "body.agent contains a NUL" in created.json()["error"]["message"], created.text
    if os.environ.get("CAPE_TEST_DATABASE_URL"):
        assert listed.status_code == 422, listed.text
        assert listed.json()["error"]["details"][0]["field"] == "agent", listed.text
    else:  # SQLite stores NUL: no such agent, nothing listed
        assert listed.status_code == 200 and listed.json()["items"] == [], listed.text
