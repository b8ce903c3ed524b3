"""The dashboard's marketplace pages over plain HTTP: catalogue, search, a package's page."""

from __future__ import annotations

import uuid

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import Api
from tests.marketplace.support import package, signed


async def test_catalogue_and_package_pages(api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    name = f"ui-{tag}"
    body = signed(package(name, title=f"Dashboard {tag}", readme="<script>x</script>"),
                  Ed25519PrivateKey.generate())  # fmt: skip
    published = await api.http.post("/v1/marketplace/packages", json=body)
    assert published.status_code == 201, published.text
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as browser:
        login = await browser.post("/ui/login", data={"api_key": api.key, "next": "/ui/tasks"})
        assert login.status_code == 303, login.text
        listing = await browser.get("/ui/marketplace", params={"q": f"dashboard {tag}"})
        assert listing.status_code == 200 and f'href="/ui/marketplace/{name}"' in listing.text
        assert 'aria-current="page">Marketplace' in listing.text
        none = await browser.get("/ui/marketplace", params={"q": f"nothing{tag}"})
        assert "No packages match." in none.text
        shown = await browser.get(f"/ui/marketplace/{name}")
        assert shown.status_code == 200
        assert "signed by ed25519:" in shown.text and "security</strong>: passed" in shown.text
        assert "<script>x</script>" not in shown.text  # the README is escaped
        assert (await browser.get("/ui/marketplace/no-such-pkg")).status_code == 404
        assert (
            await browser.get("/ui/marketplace", params={"category": "games"})
        ).status_code == 422
