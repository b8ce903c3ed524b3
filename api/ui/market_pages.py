"""The marketplace pages: the catalogue with search and filters, and one package's page.

Read through the marketplace's own services (`api/marketplace/`), so a federated instance shows
the other instance's catalogue; the team's installs come from its own rows.
"""

from __future__ import annotations

from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from api.marketplace.browse import all_categories, browse, one_package, reviews_of
from api.marketplace.catalogue import Query
from api.marketplace.install import active_installs, install_out
from api.ui.render import page
from cape.auth import Principal
from cape.errors import InvalidInput
from cape.marketplace.manifest import CATEGORIES
from cape.settings import Settings


async def marketplace_page(
    request: Request, session: AsyncSession, settings: Settings, principal: Principal,
    q: str, category: str, sort: str,
) -> HTMLResponse:  # fmt: skip
    """The catalogue: search, category and sort, and the team's installs beside it."""
    if category and category not in CATEGORIES:
        message = f"unknown category {category!r}"
        raise InvalidInput(message, details=[{"field": "query.category", "message": message}])
    query = Query(q=q or None, category=category or None, sort=sort or "relevance")
    found = await browse(settings, session, query, 50, None)
    installed = await active_installs(session, principal.team_id)
    return await page(
        request, session, principal, "marketplace.html", "marketplace",
        packages=found.items, categories=await all_categories(settings, session),
        installed={name: install_out(row) for name, row in installed.items()},
        q=q, category=category, sort=query.sort,
    )  # fmt: skip


async def package_page(
    request: Request, session: AsyncSession, settings: Settings, principal: Principal, name: str
) -> HTMLResponse:
    """One package: README, versions with scan reports and signatures, reviews, analytics."""
    package = await one_package(settings, session, name)
    installed = (await active_installs(session, principal.team_id)).get(name)
    return await page(
        request, session, principal, "package.html", "marketplace", package=package,
        reviews=await reviews_of(settings, session, name),
        installed=install_out(installed) if installed else None,
    )  # fmt: skip
