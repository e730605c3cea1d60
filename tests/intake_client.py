"""An intake service running in-process against the test session's real PostgreSQL and NATS."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx

from services.common.auth import StaffRole, issue_token
from services.common.clock import ManualClock
from services.common.runtime import ServiceRuntime
from services.intake.service import definition
from services.intake.vault import generate_master_key

AUTH_SECRET = "test-secret-for-staff-tokens-0123456789"
TODAY = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)  # cohort being filled: 2026-03


def token(role: str, region: str | None = None, subject: str = "ref-001") -> dict[str, str]:
    value = issue_token(AUTH_SECRET, subject, StaffRole(role), region)
    return {"Authorization": f"Bearer {value}"}


@asynccontextmanager
async def intake_service(settings, clock: ManualClock | None = None):
    clock = clock or ManualClock(TODAY)
    settings = settings.model_copy(update={
        "auth_secret": AUTH_SECRET, "vault_master_key": generate_master_key()})
    runtime = ServiceRuntime(definition, settings, clock)
    app = runtime.app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client, runtime
