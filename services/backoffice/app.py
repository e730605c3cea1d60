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
from services.common.observability import install_correlation_middleware
from services.common.settings import Settings, require
from services.common.web import (
    Pages,
    install_health,
    install_html_errors,
    install_web_basics,
)

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

    app = FastAPI(title="Succ'ess — espace du personnel", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)  # pages for people, not an API
    app.state.settings = settings
    app.state.clock = clock or get_clock()
    app.state.pages = Pages(TEMPLATES, site_name="Succ'ess — espace du personnel",
                            globals={"nav_items": nav_items, "role_label": role_label})
    install_web_basics(app, app.state.pages, settings.max_body_bytes)
    install_html_errors(app, app.state.pages, sign_in_path=SIGN_IN_PATH)
    install_correlation_middleware(app)
    for router in PAGE_ROUTERS:
        app.include_router(router)

    install_health(app, lambda app: app.state.accounts.engine)

    return app

