"""The whole system for browser tests: the four services and the back-office served by uvicorn
on loopback ports (in this process, against the session's real PostgreSQL and NATS, on a
manual business clock), and the system's Chromium driven by Playwright.

Fixtures (registered by ``pytest_plugins`` in conftest): ``web_stack``, ``browser``,
``page_of`` (a fresh browser context per person). Helpers: :func:`sign_in`,
:func:`check_page` (axe-core: no serious or critical violation; a screenshot as artifact).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from services.backoffice.app import create_app
from services.participants.app import create_app as create_participants_app
from services.backoffice.invitations import add_account
from services.backoffice.repository import Accounts
from services.common.clock import ManualClock
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.intake.vault import generate_master_key
from services.registry import definition_of
from tests.conftest import eventually
from tests.intake_client import AUTH_SECRET, token
from tests.mailbox import listening_socket

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("SUCCESS_TEST_ARTIFACTS",
                                Path(__file__).resolve().parent.parent / "test-artifacts"))
PASSWORD = "mot de passe de test 2026"
START = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)  # the cohort being filled: 2026-03
SERVICES = ("intake", "matching", "followup", "reporting")


def chromium_path() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        pytest.fail("Chromium est requis pour ce test : `apt-get install -y chromium` (le "
                    "paquet Debian, /usr/bin/chromium ; .ci/run l'installe).")
    return path


@dataclass
class WebStack:
    settings: Settings
    clock: ManualClock
    urls: dict[str, str]
    runtimes: dict[str, ServiceRuntime]
    accounts: Accounts
    servers: list[tuple[uvicorn.Server, asyncio.Task]] = field(default_factory=list)

    @property
    def backoffice(self) -> str:
        return self.urls["backoffice"]

    @property
    def participants(self) -> str:
        return self.urls["participants"]

    async def staff(self, email: str, role: str, region: str | None = None,
                    subject: str | None = None, name: str | None = None) -> str:
        """An active staff account (password :data:`PASSWORD`); returns its e-mail."""
        await add_account(self.accounts, self.settings, email=email, role=role, region=region,
                          subject=subject, name=name, password=PASSWORD)
        return email

    def api(self, service: str, role: str = "admin", region: str | None = None,
            subject: str = "test-admin") -> httpx.AsyncClient:
        """An API client of one service with a staff token (to arrange what a test needs)."""
        return httpx.AsyncClient(base_url=self.urls[service], timeout=30,
                                 headers=token(role, region, subject))


async def _serve(app, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           lifespan="on"))

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exit:  # uvicorn's way to fail at start: out of the event loop it
            # would end the test session's loop, failing every test after this one
            raise RuntimeError(f"the server did not start (exit status {exit.code})") from None

    task = asyncio.create_task(serve())
    await eventually(lambda: server.started or task.done(), timeout=90)
    if task.done():
        task.result()
    return server, task


@pytest.fixture
async def web_stack(settings, mailbox) -> AsyncIterator[WebStack]:
    # Listening from now on: nothing else can take a port before its server starts.
    sockets = {name: listening_socket() for name in (*SERVICES, "backoffice", "participants")}
    urls = {name: "http://127.0.0.1:%d" % sock.getsockname()[1] for name, sock in sockets.items()}
    settings = settings.model_copy(update={
        **mailbox.settings_update(), "auth_secret": AUTH_SECRET,
        "vault_master_key": generate_master_key(), "followup_poll_interval_s": 0.2,
        **{f"{name}_url": url for name, url in urls.items()}})
    clock = ManualClock(START)
    runtimes = {name: ServiceRuntime(definition_of(name), settings, clock) for name in SERVICES}
    stack = WebStack(settings, clock, urls, runtimes, Accounts.connect(settings.database_url))
    try:
        for name in SERVICES:
            stack.servers.append(await _serve(runtimes[name].app(), sockets[name]))
        stack.servers.append(await _serve(create_app(settings, clock), sockets["backoffice"]))
        participants = create_participants_app(settings)
        participants.state.clock = clock  # personal links expire on the business clock
        stack.servers.append(await _serve(participants, sockets["participants"]))
        yield stack
    finally:
        for server, _ in reversed(stack.servers):
            server.should_exit = True
        for _, task in reversed(stack.servers):
            await asyncio.wait_for(task, 60)
        for sock in sockets.values():  # those of servers that never started too
            sock.close()
        await stack.accounts.dispose()


@pytest.fixture(scope="session")
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path(),
                                                    args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page_of(browser):
    """``await page_of()``: a new page in its own context (own cookies), French locale."""
    contexts = []

    async def make(width: int = 1280, height: int = 900):
        context = await browser.new_context(locale="fr-FR", viewport={"width": width,
                                                                      "height": height})
        context.set_default_timeout(30_000)
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()


async def sign_in(page, stack: WebStack, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{stack.backoffice}/connexion")
    await page.get_by_label("Adresse e-mail").fill(email)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_load_state()


async def staff_page_at(stack: WebStack, page_of, path: str, email: str, role: str,
                        region: str | None, **account):
    """A new browser page of a new staff account, signed in, at ``path`` of the back-office."""
    person = await stack.staff(email, role, region, **account)
    page = await page_of()
    await sign_in(page, stack, person)
    await page.goto(f"{stack.backoffice}{path}")
    return page


async def check_page(page, name: str) -> list[dict]:
    """axe-core on the current page: no serious or critical violation; a full-page screenshot
    saved as ``test-artifacts/<name>.png``. Returns the (minor) violations left."""
    from axe_playwright_python.async_playwright import Axe

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', name)}.png"),
                          full_page=True)
    results = await Axe().run(page)
    violations = results.response["violations"]
    severe = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
              for v in violations if v["impact"] in ("serious", "critical")]
    assert not severe, f"{name}: accessibility violations {severe}"
    return violations


async def body_text(page) -> str:
    return await page.locator("body").inner_text()


def http_sign_in(client: httpx.Client, base: str, email: str, password: str) -> httpx.Response:
    """Sign in without a browser (for tests of `success up`): the form's CSRF token, then the
    form; ``client`` keeps the session cookie."""
    form = client.get(f"{base}/connexion")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return client.post(f"{base}/connexion", data={"csrf": csrf, "email": email,
                                                   "password": password, "suite": "/"},
                       follow_redirects=True)


def demo_accounts(path: Path) -> dict[str, tuple[str, str]]:
    """The demo accounts file of `success up --demo`: {email: (name, password)}."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"(.+?)\s+(\S+@\S+)\s+mot de passe : (\S+)$", line)
        if match:
            found[match.group(2)] = (match.group(1).strip(), match.group(3))
    return found
