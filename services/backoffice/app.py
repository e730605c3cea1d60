"""The back-office application: sign-in, pages, French error pages, one stylesheet.

``create_app(settings)`` is what ``success serve backoffice`` runs (uvicorn) and what the
browser tests start on a free port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.backoffice.backend import Backend
from services.backoffice.labels import nav_items, role_label
from services.backoffice.pages import (
    applications,
    cohorts,
    dashboard,
    events,
    home,
    pairs,
    persons,
    pool,
    regions,
    reminders,
    signin,
)
from services.backoffice.repository import Accounts
from services.common.clock import Clock, follow_business_clock, get_clock
from services.common.settings import Settings, require
from services.common.web import Pages, web_front

TEMPLATES = Path(__file__).parent / "templates"
SIGN_IN_PATH = "/connexion"

# Every area's router; each module is one area of the back-office.
PAGE_ROUTERS = [signin.router, home.router, applications.router, persons.router,
                regions.router, cohorts.router, pool.router, pairs.router, events.router,
                dashboard.router, reminders.router]


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """``clock``: the business clock (pages saying « since yesterday »); tests pass theirs."""
    require(settings.auth_secret, "SUCCESS_AUTH_SECRET", "Secret de signature des jetons")
    require(settings.database_url, "SUCCESS_DATABASE_URL", "Adresse de PostgreSQL")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.accounts = Accounts.connect(settings.database_url)
        app.state.backend = Backend(settings)
        following = await follow_business_clock(app.state.clock, settings)
        try:
            yield
        finally:
            if following is not None:
                following.cancel()
            await app.state.backend.close()
            await app.state.accounts.dispose()

    pages = Pages(TEMPLATES, site_name="Succ'ess — espace du personnel",
                  globals={"nav_items": nav_items, "role_label": role_label})
    app = web_front(title="Succ'ess — espace du personnel", settings=settings, pages=pages,
                    routers=PAGE_ROUTERS, lifespan=lifespan, sign_in_path=SIGN_IN_PATH,
                    engine_of=lambda app: app.state.accounts.engine)
    app.state.clock = clock or get_clock()
    return app

