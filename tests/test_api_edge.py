"""The API edge: inputs fuzzing once turned into 5xx, huge answers or wrong types, each a case
asserting its status and code. Real services on the session's PostgreSQL and NATS."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from services.common import validation
from services.common.api import MAX_ERRORS
from services.common.limits import TokenBuckets
from services.common.settings import Settings
from tests.conftest import create_database, reset_stream
from tests.intake_client import token
from tests.services_client import running
from tests.test_intake_api import MENTOR, person

ADMIN = token("admin")
FRENCH_HINTS = ("é", "è", "à", "ç", "ê", " : ", "Ce ", "Le ", "La ", "Un", "Il ", "Date", "Valeur")


def codes(response: httpx.Response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def assert_french(response: httpx.Response) -> None:
    for error in response.json()["errors"]:
        assert any(h in error["message"] for h in FRENCH_HINTS), error


def edge_settings(postgres_url: str, nats_url: str) -> Settings:
    return Settings(nats_url=nats_url, database_url=postgres_url, relay_poll_interval_s=0.02,
                    log_json=False, public_rate_per_minute=0)


@pytest.fixture(scope="module")
async def services(postgres, nats_server):
    """The four services once for the module: every case here is refused, nothing changes."""
    await reset_stream(nats_server.url)
    settings = edge_settings(await create_database(postgres), nats_server.url)
    async with running(settings, "intake", "matching", "followup", "reporting") as svc:
        yield {name: client for name, (client, _runtime) in svc.items()}


# service, method, path, JSON body, expected status, expected first code
CORPUS: list[tuple[str, str, str, Any, int, str]] = [
    ("reporting", "GET", "/reports/cohorts?as_of=0001-01-01T00:00:00%2B14:00", None, 422,
     "datetime_out_of_range"),
    ("reporting", "GET", "/reports/progress?as_of=0001-01-01T00:00:00%2B14:00", None, 422,
     "datetime_out_of_range"),
    ("reporting", "GET", "/dashboard?as_of=0001-01-01T00:00:00%2B14:00", None, 422,
     "datetime_out_of_range"),
    ("reporting", "GET", "/reports/cohorts?as_of=9999-12-31T23:59:59-14:00", None, 422,
     "datetime_out_of_range"),
    ("matching", "POST", "/staff/cohorts",
     {"region": "IDF", "starts_on": "0287-02-13", "target_pairs": 5}, 422, "date_out_of_range"),
    ("matching", "POST", "/staff/cohorts",
     {"region": "IDF", "starts_on": "0001-01-01", "target_pairs": 5}, 422, "date_out_of_range"),
    ("matching", "POST", "/staff/cohorts",
     {"region": "IDF", "starts_on": "2026-03-01", "target_pairs": True}, 422, "invalid_type"),
    ("matching", "POST", "/staff/cohorts/IDF-2026-03/proposals", {"min_score": True}, 422,
     "invalid_type"),
    ("followup", "POST", "/staff/networking-events",
     {"region": "IDF", "kind": "workshop", "audience": "all",
      "starts_at": "9999-12-31T23:59:59-14:00", "format": "remote"}, 422,
     "datetime_out_of_range"),
    ("followup", "PUT", "/staff/referents/x",
     {"region": "IDF", "email": "a@example.org", "display_name": "Inès\x00"}, 422,
     "invalid_characters"),
    ("followup", "PUT", "/staff/referents/x",
     {"region": "IDF", "email": "pas-une-adresse", "display_name": "Inès"}, 422,
     "invalid_email"),
    ("intake", "GET", "/staff/applications?offset=18403621320524238438055018496000", None, 422,
     "out_of_range"),
    ("intake", "GET", "/staff/applications?limit=100000", None, 422, "out_of_range"),
    ("intake", "GET", "/staff/applications?submitted_from=0001-01-01", None, 422,
     "date_out_of_range"),
    ("intake", "POST", "/applications/mentor", {**MENTOR, "capacity": True}, 422,
     "invalid_type"),
    ("intake", "POST", "/applications/mentor", {**MENTOR, "years_in_ess": "8"}, 422,
     "invalid_type"),
    ("intake", "POST", "/applications/mentee", person(consent_data_processing="yes"), 422,
     "invalid_type"),
    ("intake", "POST", "/applications/mentee", person(birth_date="0001-01-01"), 422,
     "implausible_date"),
    ("intake", "POST", "/applications/mentee", person(last_name="Nom\x07"), 422,
     "invalid_characters"),
    ("intake", "POST", "/applications/mentee", person(postcode="٧٥٠١١"), 422, "invalid_format"),
    ("intake", "POST", "/applications/mentee", person(sector_interests=["culture"] * 51), 422,
     "too_long"),
]


@pytest.mark.parametrize("service, method, path, body, status, code", CORPUS,
                         ids=[f"{c[1]} {c[2][:60]} -> {c[5]}" for c in CORPUS])
async def test_corpus(services, service, method, path, body, status, code):
    response = await services[service].request(method, path, json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert codes(response)[0] == code, response.text
    assert_french(response)


@pytest.mark.parametrize("raw", [
    b'{"first_name": "Zo\xe9"}',                       # Latin-1, not UTF-8
    b'{"first_name": "Zo\xc0\xaf"}',                   # overlong UTF-8
    b"[" * 5000 + b"]" * 5000,                         # nested far too deep
    b'{"capacity": 1' + b"0" * 5000 + b"}",            # an integer beyond Python's limit
    b"{not json",
], ids=["latin1", "overlong", "deep", "huge-int", "broken"])
async def test_undecodable_body_is_a_french_invalid_json(services, raw):
    response = await services["intake"].post(
        "/applications/mentor", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert codes(response) == ["invalid_json"]
    assert_french(response)


async def test_a_body_over_the_limit_is_refused_before_parsing(services):
    huge = json.dumps(person(sector_interests=["nope"] * 500_000)).encode()
    response = await services["intake"].post(
        "/applications/mentee", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert codes(response) == ["body_too_large"]
    assert len(response.content) < 1000
    assert_french(response)


async def test_a_chunked_body_over_the_limit_is_refused(services):
    async def chunks():
        for _ in range(100):
            yield b" " * 1024

    response = await services["followup"].put(
        "/staff/referents/x", content=chunks(),
        headers={**ADMIN, "content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert codes(response) == ["body_too_large"]


async def test_many_faults_give_a_short_answer(services):
    form = {**person(), **{f"unknown_{i}": i for i in range(2000)}}
    response = await services["intake"].post("/applications/mentee", json=form)
    assert response.status_code == 422
    errors = codes(response)
    assert len(errors) == MAX_ERRORS + 1
    assert errors[-1] == "too_many_errors"
    assert_french(response)


async def test_public_endpoints_are_rate_limited_per_address(settings):
    limited = settings.model_copy(update={"public_rate_per_minute": 1.0, "public_rate_burst": 2})
    async with running(limited, "intake") as svc:
        client = svc["intake"][0]
        answers = [await client.post("/applications/mentee", json=person()) for _ in range(3)]
        assert [a.status_code for a in answers] == [201, 201, 429]
        assert codes(answers[2]) == ["rate_limited"]
        assert int(answers[2].headers["retry-after"]) >= 1
        assert_french(answers[2])
        # Staff routes are not limited.
        assert (await client.get("/staff/applications", headers=ADMIN)).status_code == 200
        documented = (await client.get("/openapi.json")).json()["paths"]
        assert "Retry-After" in documented["/applications/mentee"]["post"]["responses"]["429"][
            "headers"]


def test_token_bucket_refills_at_its_rate():
    instant = [0.0]
    buckets = TokenBuckets(per_minute=60, burst=2, now=lambda: instant[0])
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0.0  # another address has its own bucket
    instant[0] = 1.0
    assert buckets.take("a") == 0.0


async def test_openapi_documents_the_real_error_shape(services):
    for name, client in services.items():
        schema = (await client.get("/openapi.json")).json()
        assert "HTTPValidationError" not in schema["components"]["schemas"], name
        for path, item in schema["paths"].items():
            for method, operation in item.items():
                responses = operation["responses"]
                for status in ("422",) + (("401", "403") if operation.get("security") else ()):
                    ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (name, method, path, status)
    intake = (await services["intake"].get("/openapi.json")).json()
    assert "413" in intake["paths"]["/applications/mentee"]["post"]["responses"]


# type, value given, accepted (the shared types alone, no service)
BOUNDS: list[tuple[Any, Any, bool]] = [
    (validation.ProgrammeDate, "2026-03-01", True),
    (validation.ProgrammeDate, "0287-02-13", False),
    (validation.ProgrammeDate, "2101-01-01", False),
    (validation.BirthDate, "1899-12-31", False),
    (validation.BirthDate, "2003-02-01", True),
    (validation.ProgrammeInstant, "2026-03-01T10:00:00+01:00", True),
    (validation.ProgrammeInstant, "9999-12-31T23:59:59-14:00", False),
    (validation.ProgrammeInstant, "2100-12-31T23:00:00-14:00", False),  # 2101 in UTC
    (validation.Instant, "0001-01-01T00:00:00+14:00", False),
    (validation.Instant, "2026-01-31T23:59:59Z", True),
    (validation.Count(1, 3), 2, True),
    (validation.Count(1, 3), True, False),
    (validation.Count(1, 3), "2", False),
    (validation.Count(1, 3), 2.0, False),
    (validation.Flag, True, True),
    (validation.Flag, "yes", False),
    (validation.Flag, 1, False),
    (validation.Line(10), "Inès", True),
    (validation.Line(10), "In\x00ès", False),
    (validation.Line(10), "Inès\nX", False),
    (validation.Line(10), "x" * 11, False),
    (validation.Text(100), "Deux\nlignes", True),
    (validation.Text(100), "Bip\x07", False),
    (validation.Score, 0.5, True),
    (validation.Score, True, False),
    (validation.Score, float("inf"), False),
    (validation.BoundedList(int, max_length=3), [1, 2, 3], True),
    (validation.BoundedList(int, max_length=3), [1, 2, 3, 4], False),
    (validation.Offset, "18403621320524238438055018496000", False),
    (validation.Offset, "10", True),
    (validation.Email, "Zoe@Example.org", True),
    (validation.Email, "zoe@", False),
]


@pytest.mark.parametrize("kind, value, accepted", BOUNDS,
                         ids=[f"{i}-{str(b[1])[:30]!r}" for i, b in enumerate(BOUNDS)])
def test_bounded_types(kind, value, accepted):
    adapter = TypeAdapter(kind)
    if accepted:
        adapter.validate_python(value)
    else:
        with pytest.raises(ValidationError) as refused:
            adapter.validate_python(value)
        assert refused.value.error_count() == 1


async def test_a_lone_surrogate_is_refused_and_never_breaks_the_answer(services):
    for raw in (b'{"\\ud800": 1}',
                b'{"region": "IDF", "email": "a@example.org", "display_name": "\\udfff"}'):
        response = await services["followup"].put(
            "/staff/referents/x", content=raw,
            headers={**ADMIN, "content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert codes(response) == ["invalid_type"]
        assert_french(response)
