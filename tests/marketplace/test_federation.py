"""Federation: an instance with `CAPE_MARKETPLACE_URL` browses another instance's catalogue and
installs from it, verifying hashes and signatures itself (a tampered version is refused)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from cape.settings import Settings
from migrations.apply import upgrade
from tests.harness import new_api_key, running_api
from tests.marketplace.support import agent, package, signed


async def test_browse_and_install_from_another_instance(settings: Settings, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    remote_dir = tmp_path / "remote"
    remote = settings.model_copy(update={
        "data_dir": remote_dir, "database_url": f"sqlite+aiosqlite:///{remote_dir}/cape.db",
    })  # fmt: skip
    upgrade(remote)
    publisher = await new_api_key(remote, owner=f"fed-pub-{tag}")
    reader = await new_api_key(remote, owner=f"fed-reader-{tag}")
    key = Ed25519PrivateKey.generate()
    lib, app = f"fedlib-{tag}", f"fedapp-{tag}"
    async with running_api(remote) as remote_url:
        headers = {"Authorization": f"Bearer {publisher}"}
        async with httpx.AsyncClient(base_url=remote_url, headers=headers, timeout=60) as pub:
            for body in (
                signed(package(lib, agents=[agent(f"fedhelper-{tag}")]), key),
                signed(package(app, dependencies={lib: "^1"}, title=f"Federated {tag}"), key),
            ):
                sent = await pub.post("/v1/marketplace/packages", json=body)
                assert sent.status_code == 201, sent.text
        local = settings.model_copy(update={
            "marketplace_url": remote_url, "marketplace_api_key": SecretStr(reader),
        })  # fmt: skip
        local_key = await new_api_key(local, owner=f"fed-local-{tag}")
        async with (
            running_api(local) as local_url,
            httpx.AsyncClient(
                base_url=local_url, headers={"Authorization": f"Bearer {local_key}"}, timeout=60
            ) as client,
        ):
            found = await client.get("/v1/marketplace/packages", params={"q": f"federated {tag}"})
            assert [p["name"] for p in found.json()["items"]] == [app, lib], found.text
            page = await client.get(f"/v1/marketplace/packages/{app}")
            assert page.json()["versions"][0]["signed"] is True
            # Tamper with the remote copy of the dependency: the local install refuses it whole.
            engine = sa.create_engine(remote.sync_database_url)
            with engine.begin() as db:
                row = db.execute(sa.text(
                    "SELECT id, agents FROM marketplace_package_versions WHERE package = :p"
                ), {"p": lib}).one()  # fmt: skip
                tampered = row.agents.replace("You summarize", "You leak")
                db.execute(sa.text("UPDATE marketplace_package_versions SET agents = :a "
                                   "WHERE id = :i"), {"a": tampered, "i": row.id})  # fmt: skip
            perms = {"package": app, "accept_permissions": ["tool:write_file"]}
            refused = await client.post("/v1/marketplace/installs", json=perms)
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["details"]["reason"] == "hash_mismatch"
            assert (await client.get("/v1/marketplace/installs")).json() == []
            with engine.begin() as db:
                db.execute(sa.text("UPDATE marketplace_package_versions SET agents = :a "
                                   "WHERE id = :i"), {"a": row.agents, "i": row.id})  # fmt: skip
            engine.dispose()
            installed = await client.post("/v1/marketplace/installs", json=perms)
            assert installed.status_code == 201, installed.text
            lock = installed.json()["lockfile"]
            assert set(lock["packages"]) == {app, lib}
            assert lock["packages"][app]["signed_by"].startswith("ed25519:")
            names = [i["agents"] for i in installed.json()["installed"]]
            for agents in names:
                for installed_as in agents.values():
                    assert (await client.get(f"/v1/agents/{installed_as}")).status_code == 200
