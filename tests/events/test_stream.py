"""`GET /v1/events/stream`: the team's new events live, resumable, never another team's."""

from __future__ import annotations

import asyncio
from typing import Any

from cape.settings import Settings
from tests.conftest import Api
from tests.events.support import own_team, publish
from tests.harness import iter_sse, read_sse


async def test_stream_sends_new_events_of_the_team_and_resumes(
    api: Api, settings: Settings
) -> None:
    async with own_team(api, settings) as http, own_team(api, settings) as other:
        before = await publish(http, "stream.before")
        got: list[dict[str, Any]] = []

        async def listen() -> None:
            async for message in iter_sse(http, "/v1/events/stream?timeout=60"):
                if message.get("event") == "event":
                    got.append(message)
                    if len(got) == 2:
                        return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)  # let it connect: the stream starts at "now"
        await publish(other, "stream.other")  # another team's: never sent
        first = await publish(http, "stream.one", data={"n": 1})
        second = await publish(http, "stream.two")
        await asyncio.wait_for(listener, 60)
        sent: list[dict[str, Any]] = [m["data"] for m in got]
        assert [e["id"] for e in sent] == [first["id"], second["id"]]
        assert before["id"] not in {e["id"] for e in sent}
        assert sent[0]["data"] == {"n": 1}
        # Resuming after the first frame sends the second again (and ends at the timeout).
        resumed = await read_sse(
            http, "/v1/events/stream?timeout=2", headers={"Last-Event-ID": str(got[0]["id"])}
        )
        ids = [m["data"]["id"] for m in resumed if m.get("event") == "event"]
        assert ids == [second["id"]]
        assert resumed[-1]["event"] == "end"
