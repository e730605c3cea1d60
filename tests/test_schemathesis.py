"""Schemathesis on every service's OpenAPI, with and without an admin token: valid and invalid
inputs generated from the documented schema, sent over HTTP to the real running services
(uvicorn, real PostgreSQL and NATS). No answer is a 5xx, and every answer is documented: its
status code, its content type and its body's schema."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from services.common.clock import ManualClock
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.intake.vault import generate_master_key
from services.registry import definition_of
from tests.conftest import create_database
from tests.intake_client import AUTH_SECRET, TODAY, token

SERVICES = ("intake", "matching", "followup", "reporting")
SERVED = ("IDF", "BRE")
REGION_PATTERN = "^[A-Z]{3}$"
# Per operation and mode (valid, invalid): the file stays within a few minutes on 2 cores.
# Without a token every staff route stops at 401: a few examples show it.
EXAMPLES = {"admin": 8, "anonymous": 3}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


class LiveService:
    """A service served by uvicorn on a free loopback port, in a thread with its own loop."""

    def __init__(self, name: str, settings: Settings) -> None:
        runtime = ServiceRuntime(definition_of(name), settings, ManualClock(TODAY))
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(runtime.app(), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name=f"uvicorn-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60  # infrastructure start-up, not a timing assertion
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "service did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


@pytest.fixture(scope="module")
async def live(postgres, nats_server) -> Iterator[dict[str, str]]:
    settings = Settings(
        nats_url=nats_server.url, database_url=await create_database(postgres),
        auth_secret=AUTH_SECRET, vault_master_key=generate_master_key(), log_json=False,
        log_level="WARNING", relay_poll_interval_s=0.05,
        # Fuzzing sends many forms from one address: the limit is tested in test_api_edge.
        public_rate_per_minute=0)
    services = {name: LiveService(name, settings) for name in SERVICES}
    try:
        for service in services.values():
            service.start()
        yield {name: service.url for name, service in services.items()}
    finally:
        for service in services.values():
            service.stop()


def served_regions_only(node: Any) -> Any:
    """The documented schema with region codes drawn from the served regions: a random code
    stops at "unknown region", a served one takes the request on to the rules."""
    if isinstance(node, dict):
        steered = {key: served_regions_only(value) for key, value in node.items()}
        if steered.get("pattern") == REGION_PATTERN:
            steered["enum"] = list(SERVED)
        return steered
    if isinstance(node, list):
        return [served_regions_only(item) for item in node]
    return node


def failures_of(base_url: str, headers: dict[str, str], examples: int) -> list[str]:
    """Every operation fuzzed; the first failure of each, described. Responses are checked
    against the schema the service documents (region codes steered only in generation)."""
    documented = httpx.get(f"{base_url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(served_regions_only(documented))
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=cases)
        @hypothesis_settings(max_examples=2 * examples, deadline=None,
                             database=None, derandomize=True, phases=[Phase.generate],
                             suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            fuzz()
        except Exception as failure:  # noqa: BLE001 (reported below, all operations at once)
            found.append(f"{operation.label}: {failure}"[:3000])
    return found


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_every_answer_is_documented_and_none_is_a_5xx(live, service, who):
    headers = token("admin") if who == "admin" else {}
    failures = failures_of(live[service], headers, EXAMPLES[who])
    assert failures == [], "\n\n".join(failures)
