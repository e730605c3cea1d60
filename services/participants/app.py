"""The participants' web application (public): ``success serve participants``.

``create_app(settings)`` is what uvicorn runs and what the browser tests start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.clock import follow_business_clock, get_clock
from services.common.settings import Settings, require
from services.common.store import async_database_url
from services.common.web import Pages, web_front
from services.participants.pages import applications, links, rights

TEMPLATES = Path(__file__).parent / "templates"

# (path, label) of the home page's links; areas add theirs.
HOME_LINKS: list[tuple[str, str]] = [*applications.HOME_LINKS, *rights.HOME_LINKS]
PAGE_ROUTERS: list = [applications.router, rights.router, links.router]


def create_app(settings: Settings) -> FastAPI:
    require(settings.auth_secret, "SUCCESS_AUTH_SECRET", "Secret des liens personnels")
    require(settings.database_url, "SUCCESS_DATABASE_URL", "Adresse de PostgreSQL")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_async_engine(async_database_url(settings.database_url),
                                               hide_parameters=True, pool_size=5,
                                               pool_pre_ping=True)
        app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=15.0))
        following = await follow_business_clock(app.state.clock, settings)
        try:
            yield
        finally:
            if following is not None:
                following.cancel()
            await app.state.http.aclose()
            await app.state.engine.dispose()

    app = web_front(title="Succ'ess — participants", settings=settings,
                    pages=Pages(TEMPLATES, site_name="Succ'ess"), routers=PAGE_ROUTERS,
                    lifespan=lifespan, engine_of=lambda app: app.state.engine)
    app.state.clock = get_clock()  # links expire on the business clock (tests set theirs)

    @app.get("/")
    async def home(request: Request) -> Response:
        return app.state.pages.html(request, "home.html", {"title": "Accueil",
                                                          "links": HOME_LINKS})

    return app
