"""``/docs`` of every service works without internet: Swagger UI's files are served by the
service itself, and headless Chromium, with every request off the loopback aborted, shows the
operations."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn

from services.common.clock import ManualClock
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.intake.vault import generate_master_key
from services.registry import definition_of
from tests.conftest import eventually
from tests.intake_client import AUTH_SECRET, TODAY
from tests.mailbox import free_port

SERVICES = ("intake", "matching", "followup", "reporting")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
LINKS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@asynccontextmanager
async def serving(name: str) -> AsyncIterator[str]:
    """The service's HTTP app on a loopback port. The documentation needs neither PostgreSQL
    nor NATS, so the app is served without its lifespan (nothing is started)."""
    settings = Settings(auth_secret=AUTH_SECRET, vault_master_key=generate_master_key(),
                        log_json=False, log_level="WARNING")
    app = ServiceRuntime(definition_of(name), settings, ManualClock(TODAY)).app()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)


@pytest.mark.parametrize("name", SERVICES)
async def test_docs_link_only_to_the_service_itself(name):
    async with serving(name) as base, httpx.AsyncClient() as client:
        page = await client.get(f"{base}/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        links = LINKS.findall(page.text)
        assert len(links) >= 3, links  # stylesheet, icon, script
        for link in links:
            url = urljoin(f"{base}/docs", link)
            assert urlsplit(url).netloc == urlsplit(base).netloc, f"not local: {link}"
            assert (await client.get(url)).status_code == 200, link
        assert "cdn" not in page.text.lower()
        assert (await client.get(f"{base}/redoc")).status_code == 404  # ReDoc: removed
        schema = (await client.get(f"{base}/openapi.json")).json()
        assert not [p for p in schema["paths"] if p.startswith("/docs")]


@pytest.mark.parametrize("name", SERVICES)
async def test_swagger_ui_shows_the_operations_offline(name):
    from playwright.async_api import async_playwright

    async with serving(name) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            refused: list[str] = []

            async def loopback_only(route) -> None:
                if urlsplit(route.request.url).hostname == "127.0.0.1":
                    await route.continue_()
                else:
                    refused.append(route.request.url)
                    await route.abort()

            await page.route("**/*", loopback_only)
            await page.goto(f"{base}/docs")
            await page.wait_for_selector(".opblock", timeout=60_000)
            assert await page.locator(".opblock").count() >= 2
            assert "/healthz" in await page.locator(".opblock-summary-path").all_inner_texts()
            assert not await page.locator(".errors-wrapper").count()
            assert refused == [], refused
        finally:
            await browser.close()
