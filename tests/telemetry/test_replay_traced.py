"""The committed histories replay with the tracing interceptor in the workers' sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Replayer

from tests.replay.test_replay import HISTORIES, IDS, committed
from worker.observe import workflow_runner
from workflows.agent_task import AgentTaskWorkflow


@pytest.mark.parametrize("path", HISTORIES, ids=IDS)
async def test_committed_history_replays_traced(path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # this test's own: the process's global provider is untouched
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    replayer = Replayer(
        workflows=[AgentTaskWorkflow],
        interceptors=[TracingInterceptor(provider.get_tracer("test"))],
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(committed(path), raise_on_replay_failure=False)
    assert result.replay_failure is None
    # Replaying emits no workflow spans: a worker that replays a task adds none twice.
    assert [s.name for s in exporter.get_finished_spans() if "Workflow" in s.name] == []
