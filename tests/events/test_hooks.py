"""Webhooks: a GitHub-style signed delivery publishes an event; a bad signature records nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import httpx
from temporalio.worker import Worker

from cape.settings import Settings
from tests.conftest import Api
from tests.e2e.audit_support import audit_count
from tests.events.support import own_team, routed, triggered_agent


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_signed_delivery_publishes_and_bad_signature_is_401_with_nothing_logged(
    api: Api, settings: Settings, worker: Worker
) -> None:
    async with own_team(api, settings) as http:
        agent = await triggered_agent(
            http, {"event": "github.push", "input": {"prompt": "push to {{ event.data.ref }}"}}
        )
        made = await http.post("/v1/hooks", json={"event_type": "github.push"})
        assert made.status_code == 201, made.text
        hook = made.json()
        assert hook["secret"].startswith("whsec_")
        listed = (await http.get("/v1/hooks")).json()
        assert [h["id"] for h in listed] == [hook["id"]] and listed[0]["secret"] is None
        team = (await http.get("/v1/teams")).json()[0]["id"]
        body = json.dumps({"ref": "refs/heads/main"}).encode()
        delivery = uuid.uuid4().hex
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as outside:  # no API key
            logged = await audit_count(settings, team)
            bad = await outside.post(
                f"/v1/hooks/{hook['id']}", content=body,
                headers={"X-Hub-Signature-256": signed("wrong", body)},
            )  # fmt: skip
            assert bad.status_code == 401, bad.text
            unsigned = await outside.post(f"/v1/hooks/{hook['id']}", content=body)
            assert unsigned.status_code == 401
            unknown = await outside.post(
                "/v1/hooks/hook_nothing", content=body,
                headers={"X-Hub-Signature-256": signed(hook["secret"], body)},
            )  # fmt: skip
            assert unknown.status_code == 401
            assert (await http.get("/v1/events")).json()["items"] == []
            assert await audit_count(settings, team) == logged
            headers = {
                "X-Hub-Signature-256": signed(hook["secret"], body),
                "X-GitHub-Delivery": delivery,
                "Content-Type": "application/json",
            }
            good = await outside.post(f"/v1/hooks/{hook['id']}", content=body, headers=headers)
            assert good.status_code == 202, good.text
            again = await outside.post(f"/v1/hooks/{hook['id']}", content=body, headers=headers)
            assert again.status_code == 200 and again.json()["id"] == good.json()["id"]
            assert await audit_count(settings, team) == logged + 2
        event = await routed(http, good.json()["id"])
        assert event["type"] == "github.push" and event["source"] == f"hook:{hook['id']}"
        [route] = event["routes"]
        assert route["agent"] == agent and route["input"] == {"prompt": "push to refs/heads/main"}
        gone = await http.delete(f"/v1/hooks/{hook['id']}")
        assert gone.status_code == 204
        assert (await http.get("/v1/hooks")).json() == []
