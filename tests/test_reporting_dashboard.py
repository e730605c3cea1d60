"""The staff dashboard, rendered by headless Chromium (Playwright) from a real running reporting
service (uvicorn on a loopback port): French text, the three charts, a screenshot that is not
blank. The token travels in the Authorization header only, never in the address."""

from __future__ import annotations

import asyncio
import shutil
import struct
import zlib
from datetime import date
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import uvicorn

from services.common.runtime import ServiceRuntime
from services.intake.vault import generate_master_key
from services.registry import definition_of
from tests.conftest import eventually
from tests.intake_client import AUTH_SECRET, token
from tests.mailbox import listening_socket
from tests.reporting_history import (
    T3,
    admitted,
    envelope,
    outcome,
    pair_ended,
    pair_formed,
    planned,
    received,
    review_done,
    review_due,
    review_overdue,
    scripted_history,
)
from tests.test_reporting_service import archived, publish

CHROMIUM = "/usr/bin/chromium"
INSTALL = ("Chromium est requis pour ce test : `apt-get install -y chromium` "
           "(le paquet Debian, /usr/bin/chromium).")


def chromium() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        pytest.fail(INSTALL)
    return path


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


async def render(url: str, headers: dict[str, str], shot: Path) -> str:
    """The page's DOM as Chromium built it, and its screenshot (1280 × 1400) in ``shot``."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(),
                                                   args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(extra_http_headers=headers,
                                          viewport={"width": 1280, "height": 1400})
            answer = await page.goto(url)
            assert answer is not None and answer.status == 200
            await page.screenshot(path=str(shot))
            dom = await page.content()
            await page.goto("about:blank")
            await page.screenshot(path=str(shot.with_name("blank.png")))
            return dom
        finally:
            await browser.close()


def png_ink(data: bytes) -> tuple[int, int, float]:
    """Width, height and the share of non-zero bytes in the PNG's filtered scanlines: a plain
    page filters to (almost) only zeros."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(idat)
    return width, height, sum(1 for b in raw[::7] if b) / len(raw[::7])


async def test_the_dashboard_renders_in_chromium(settings, nats_url, clock, tmp_path):
    clock.set(T3)
    events = scripted_history()
    mentor = uuid4()
    for i in range(6):  # more pairs: some reviews overdue, one ended early
        mentee, pair = uuid4(), uuid4()
        events += [envelope(received(mentee)), envelope(admitted(mentee)),
                   envelope(pair_formed(pair, mentee, mentor)),
                   envelope(planned(pair, mentee, mentor))]
        if i % 3 == 0:
            events.append(envelope(review_overdue(pair, "intermediate", date(2026, 3, 2))))
        elif i % 3 == 1:
            events.append(envelope(review_due(pair, "intermediate", date(2026, 3, 2))))
        else:
            events += [envelope(review_done(pair, "intermediate", date(2026, 3, 5))),
                       envelope(pair_ended(pair, mentee, mentor, early=True)),
                       envelope(outcome(mentee, pair, "job_seeking"))]
    settings = settings.model_copy(update={"auth_secret": AUTH_SECRET,
                                           "vault_master_key": generate_master_key()})
    runtime = ServiceRuntime(definition_of("reporting"), settings, clock)
    sock = listening_socket()  # the app starts (PostgreSQL, NATS) before it listens
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(runtime.app(), log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, timeout=60)
        await publish(nats_url, events)
        await eventually(lambda: _equals(archived(runtime), len(events)))
        base = f"http://127.0.0.1:{port}/dashboard"
        header = token("referent", "BRE", "ref-bre-1")
        jeton = header["Authorization"].split()[1]
        async with httpx.AsyncClient() as client:
            assert (await client.get(base)).status_code == 401
            # The token in the address is no longer read: still 401.
            assert (await client.get(base, params={"jeton": jeton})).status_code == 401
            other = await client.get(base, params={"region": "IDF"}, headers=header)
            assert other.status_code == 403
            page = await client.get(base, headers=header)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            as_of_a_day = await client.get(base, params={"as_of": "2026-09-02"}, headers=header)
            assert as_of_a_day.status_code == 200 and "02/09/2026" in as_of_a_day.text
            future = await client.get(base, params={"as_of": "2099-01-01"}, headers=header)
            assert future.status_code == 422
            assert future.json()["errors"][0]["code"] == "as_of_in_future"

        shot = tmp_path / "dashboard.png"
        dom = await render(base, header, shot)
        assert "Succ'ess — tableau de bord" in dom
        assert "Périmètre : région BRE" in dom
        for section in ("Entonnoir des candidatures", "Progression vers 500 jeunes",
                        "État des bilans des binômes"):
            assert section in dom
        assert dom.count("<svg") >= 4 and 'class="courbe"' in dom
        assert "en retard : 2" in dom and "fait : 3" in dom  # review status, in the chart
        assert "Candidatures de jeunes" in dom and "objectif : 500 jeunes fin 2028" in dom
        assert ">2028</text>" in dom and "Rythme depuis le début" in dom  # axis to 2028

        width, height, ink = png_ink(shot.read_bytes())
        assert (width, height) == (1280, 1400)
        blank_ink = png_ink((tmp_path / "blank.png").read_bytes())[2]
        assert blank_ink < 0.001
        assert ink > max(0.005, 20 * blank_ink), f"the screenshot looks blank ({ink:.3%} ink)"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 60)


async def _equals(value, expected) -> bool:
    return (await value) == expected
