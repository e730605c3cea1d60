"""Staff tokens and the rules of services.common.auth, on a tiny app built here (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from services.common.api import install_error_handlers
from services.common.auth import (
    InvalidCredentials, Principal, StaffRole, TokenExpired, decode_token, generate_secret,
    issue_token, require_region, staff, visible_regions,
)
from services.common.clock import ManualClock

SECRET = "test-secret-for-staff-tokens-0123456789"
NOW = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)

Anyone = Annotated[Principal, Depends(staff())]
Acting = Annotated[Principal, Depends(staff(StaffRole.referent, StaffRole.admin))]
Reading = Annotated[Principal, Depends(staff(*StaffRole))]
Admin = Annotated[Principal, Depends(staff(StaffRole.admin))]


def make_app(secret: str | None = SECRET) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.auth_secret = secret
    app.state.auth_clock = ManualClock(NOW)  # token times follow this clock, not the wall's

    @app.get("/me")
    async def me(principal: Anyone) -> dict:
        return {"subject": principal.subject, "role": principal.role, "region": principal.region}

    @app.post("/regions/{region}/pairs")  # acting: referents and admins, in their region
    async def act(region: str, principal: Acting) -> dict:
        require_region(principal, region)
        return {"done_by": principal.subject}

    @app.get("/regions/{region}/stats")  # reading: analysts too
    async def stats(region: str, principal: Reading) -> dict:
        require_region(principal, region)
        return {"region": region}

    @app.get("/applications")  # a list narrowed to what the caller may see
    async def listing(principal: Reading) -> list[str]:
        allowed = visible_regions(principal)
        return [r for r in ("IDF", "BRE", "OCC") if allowed is None or r in allowed]

    @app.delete("/persons/{person}")
    async def erase(person: str, principal: Admin) -> dict:
        return {"erased": person}

    return app


def connect(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://staff")


@pytest.fixture
async def client():
    async with connect(make_app()) as c:
        yield c


def bearer(role: str, region: str | None = None, subject: str = "ref-001",
           secret: str = SECRET, now: datetime = NOW, ttl: timedelta = timedelta(hours=12)):
    return {"Authorization": f"Bearer {issue_token(secret, subject, role, region, ttl, now)}"}


def the_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    error = body["errors"][0]
    assert set(error) == {"code", "field", "message"}
    assert error["code"] == code
    return error


# --- tokens -----------------------------------------------------------------------------------

def test_token_round_trip():
    token = issue_token(SECRET, "ref-042", StaffRole.referent, "IDF", now=NOW)
    assert decode_token(SECRET, token, now=NOW + timedelta(hours=11)) == Principal(
        "ref-042", StaffRole.referent, "IDF")
    national = issue_token(SECRET, "adm:1", "admin", None, now=NOW)
    assert decode_token(SECRET, national, now=NOW).region is None


def test_token_expires_after_its_ttl():
    token = issue_token(SECRET, "ref-042", StaffRole.referent, "IDF", ttl=timedelta(hours=1),
                        now=NOW)
    decode_token(SECRET, token, now=NOW + timedelta(minutes=59))
    with pytest.raises(TokenExpired):
        decode_token(SECRET, token, now=NOW + timedelta(hours=1))


@pytest.mark.parametrize("token", [
    "garbage",
    "abc.def.ghi",
    issue_token("another-secret-of-sufficient-length-42", "ref-1", "admin", None, now=NOW),
    issue_token(SECRET, "ref-1", "admin", None, now=NOW + timedelta(hours=1)),  # from the future
])
def test_bad_tokens_are_invalid_credentials(token):
    with pytest.raises(InvalidCredentials) as caught:
        decode_token(SECRET, token, now=NOW)
    assert not isinstance(caught.value, TokenExpired)


@pytest.mark.parametrize("claims", [
    {"role": "superuser", "region": "IDF"},          # unknown role
    {"role": "referent", "region": None},            # referent without region
    {"role": "referent", "region": "Île-de-France"},  # not a region code
    {"sub": "../etc/passwd"},                        # subject outside the allowed alphabet
    {"iss": "someone-else"},
    {"region": ...},                                 # claim missing
])
def test_foreign_claims_are_refused(claims):
    payload = {"sub": "ref-1", "role": "admin", "region": "IDF", "iss": "success",
               "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 3600, **claims}
    payload = {k: v for k, v in payload.items() if v is not ...}
    with pytest.raises(InvalidCredentials):
        decode_token(SECRET, jwt.encode(payload, SECRET, algorithm="HS256"), now=NOW)


def test_unsigned_token_is_refused():
    payload = {"sub": "ref-1", "role": "admin", "region": None, "iss": "success",
               "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 3600}
    with pytest.raises(InvalidCredentials):
        decode_token(SECRET, jwt.encode(payload, None, algorithm="none"), now=NOW)


def test_cannot_issue_a_token_for_an_invalid_identity():
    for subject, role, region in [("ref 1", "admin", None), ("ref-1", "referent", None),
                                  ("ref-1", "boss", None), ("ref-1", "referent", "idf")]:
        with pytest.raises(ValueError):
            issue_token(SECRET, subject, role, region, now=NOW)


def test_generated_secrets_are_long_and_distinct():
    assert len(generate_secret()) >= 43 and generate_secret() != generate_secret()


# --- HTTP: who are you ------------------------------------------------------------------------

async def test_missing_header_is_401_with_how_to_get_a_token(client):
    response = await client.get("/me")
    error = the_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "jeton valide" in error["message"] and "success token --role" in error["message"]
    assert error["field"] == "authorization"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Token abc"])
async def test_wrong_scheme_is_401(client, header):
    response = await client.get("/me", headers={"Authorization": header})
    error = the_error(response, 401, "unauthenticated")
    assert "Bearer <jeton>" in error["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer garbage"},
    bearer("admin", secret="another-secret-of-sufficient-length-42"),  # bad signature
])
async def test_invalid_token_is_401(client, headers):
    response = await client.get("/me", headers=headers)
    error = the_error(response, 401, "unauthenticated")
    assert error["message"].startswith("Jeton invalide")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_expired_token_is_401_token_expired(client):
    response = await client.get("/me", headers=bearer("admin", now=NOW - timedelta(hours=13)))
    error = the_error(response, 401, "token_expired")
    assert "expiré" in error["message"] and "success token" in error["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_no_secret_configured_lets_nobody_in():
    async with connect(make_app(secret=None)) as client:
        response = await client.get("/me", headers=bearer("admin"))
    the_error(response, 503, "auth_unavailable")


async def test_valid_token_names_the_principal(client):
    response = await client.get("/me", headers=bearer("referent", "IDF", subject="ref-042"))
    assert response.json() == {"subject": "ref-042", "role": "referent", "region": "IDF"}


# --- HTTP: what may you do --------------------------------------------------------------------

async def test_wrong_role_is_403_naming_the_allowed_roles(client):
    response = await client.delete("/persons/p1", headers=bearer("referent", "IDF"))
    error = the_error(response, 403, "forbidden_role")
    assert "administrateur·rice" in error["message"] and "référent·e" in error["message"]


async def test_analyst_reads_but_does_not_act(client):
    analyst = bearer("analyst")
    assert (await client.get("/regions/BRE/stats", headers=analyst)).status_code == 200
    assert (await client.get("/applications", headers=analyst)).json() == ["IDF", "BRE", "OCC"]
    error = the_error(await client.post("/regions/BRE/pairs", headers=analyst),
                      403, "forbidden_role")
    assert "analyste" in error["message"]


async def test_referent_acts_only_in_their_region(client):
    idf = bearer("referent", "IDF")
    assert (await client.post("/regions/IDF/pairs", headers=idf)).status_code == 200
    error = the_error(await client.post("/regions/BRE/pairs", headers=idf),
                      403, "forbidden_region")
    assert "IDF" in error["message"] and "BRE" in error["message"]
    assert (await client.get("/applications", headers=idf)).json() == ["IDF"]


async def test_national_admin_acts_everywhere(client):
    admin = bearer("admin")
    for region in ("IDF", "BRE", "OCC"):
        assert (await client.post(f"/regions/{region}/pairs", headers=admin)).status_code == 200
    assert (await client.delete("/persons/p1", headers=admin)).json() == {"erased": "p1"}


async def test_regional_admin_is_limited_like_a_referent(client):
    admin = bearer("admin", "BRE")
    assert (await client.post("/regions/BRE/pairs", headers=admin)).status_code == 200
    the_error(await client.post("/regions/IDF/pairs", headers=admin), 403, "forbidden_region")
    assert (await client.get("/applications", headers=admin)).json() == ["BRE"]


async def test_openapi_declares_the_bearer_scheme(client):
    schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert schemes["jeton_personnel"]["scheme"].lower() == "bearer"
