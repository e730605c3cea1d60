"""Staff authentication and authorisation for the back-office APIs of every service.

Staff carry a bearer token (HS256 JWT signed with ``SUCCESS_AUTH_SECRET``, made by
``success token``) naming who they are, their role and their region. Routes declare the roles
they accept with :func:`staff`; handlers then check the region they touch with
:func:`require_region` or filter what they list with :func:`visible_regions`.

Every refusal is an :func:`~services.common.api.error_body` carried by an ``HTTPException``,
which the services' error handler passes through as it is.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NoReturn

import jwt
import structlog
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBearer

from services.common.api import error_body

log = structlog.get_logger(__name__)

ISSUER = "success"
ALGORITHM = "HS256"
DEFAULT_TTL = timedelta(hours=12)
# Services may run on hosts whose clocks drift slightly: a token a few seconds "from the
# future" is skew, not forgery.
CLOCK_SKEW = timedelta(seconds=60)

SUBJECT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
REGION_PATTERN = re.compile(r"^[A-Z]{3}$")  # same rule as events.base.RegionCode

TOKEN_HINT = ("Pour en obtenir un : `success token --role <referent|admin|analyst> "
              "--subject <identifiant> --region <région>`.")


class StaffRole(StrEnum):
    referent = "referent"  # runs applications and pairs of their region
    admin = "admin"        # everything, nationally or within their region
    analyst = "analyst"    # reads, never acts
    mentor = "mentor"      # a mentor (subject: their person id), declares their own sessions
    service = "service"    # another service of the platform (followup reading contacts)


ROLE_LABELS = {StaffRole.referent: "référent·e", StaffRole.admin: "administrateur·rice",
               StaffRole.analyst: "analyste", StaffRole.mentor: "mentor",
               StaffRole.service: "service interne"}
# What ``staff()`` without roles admits: the people of the back-office, not mentors or services.
STAFF_ROLES = frozenset({StaffRole.referent, StaffRole.admin, StaffRole.analyst})


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``region`` is None only for a national admin or analyst."""

    subject: str
    role: StaffRole
    region: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.subject, str) or not SUBJECT_PATTERN.match(self.subject):
            raise ValueError(f"invalid staff subject: {self.subject!r}")
        object.__setattr__(self, "role", StaffRole(self.role))  # ValueError if unknown
        if self.region is None:
            if self.role is StaffRole.referent:
                raise ValueError("a referent belongs to a region")
        elif not isinstance(self.region, str) or not REGION_PATTERN.match(self.region):
            raise ValueError(f"invalid region code: {self.region!r}")


class InvalidCredentials(Exception):
    """A token that proves nothing. The message (English) is for logs, never for clients."""


class TokenExpired(InvalidCredentials):
    """A token that was valid but is no longer: the client only needs a fresh one."""


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def issue_token(secret: str, subject: str, role: StaffRole | str, region: str | None,
                ttl: timedelta = DEFAULT_TTL, now: datetime | None = None) -> str:
    """A signed token for this staff member; ValueError if the identity itself is invalid."""
    if not secret:
        raise ValueError("empty signing secret")
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    principal = Principal(subject, StaffRole(role), region)
    issued = int(_now(now).timestamp())
    claims = {"sub": principal.subject, "role": principal.role.value, "region": principal.region,
              "iat": issued, "exp": issued + int(ttl.total_seconds()), "iss": ISSUER}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str, now: datetime | None = None) -> Principal:
    """The principal a token names, or :class:`InvalidCredentials` (:class:`TokenExpired`)."""
    try:
        # PyJWT reads the wall clock itself; we check times below against ``now`` instead.
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["sub", "role", "iat", "exp", "iss"],
                     "verify_exp": False, "verify_iat": False, "verify_nbf": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidCredentials(f"{type(exc).__name__}: {exc}") from None
    issued, expires = claims["iat"], claims["exp"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (issued, expires)):
        raise InvalidCredentials("iat and exp must be integers")
    instant = _now(now).timestamp()
    if issued > instant + CLOCK_SKEW.total_seconds():
        raise InvalidCredentials("token issued in the future")
    if expires <= instant:
        raise TokenExpired("token expired")
    if "region" not in claims:
        raise InvalidCredentials("missing region claim")
    try:
        return Principal(claims["sub"], claims["role"], claims["region"])
    except (ValueError, TypeError) as exc:
        raise InvalidCredentials(str(exc)) from None


# Declared for OpenAPI (the "Authorize" button of /docs); it never refuses (auto_error=False):
# the refusals below carry our error shape.
_bearer = HTTPBearer(auto_error=False, scheme_name="jeton_personnel",
                     description="Jeton du personnel : `success token --role … --region …`.")


def _unauthenticated(code: str, message: str, invalid_token: bool) -> NoReturn:
    # RFC 6750: a presented but unusable token is flagged invalid_token.
    challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
    raise HTTPException(401, detail=error_body(code, message, "authorization"),
                        headers={"WWW-Authenticate": challenge})


def _secret_of(request: Request) -> str:
    secret = getattr(request.app.state, "auth_secret", None)
    if callable(secret):
        secret = secret()
    if not secret:
        # Fail closed: without a secret no token can be checked, so nobody gets in.
        log.error("auth secret not configured", path=request.url.path)
        raise HTTPException(503, detail=error_body(
            "auth_unavailable",
            "Authentification indisponible : le service n'a pas de secret de jetons "
            "(SUCCESS_AUTH_SECRET). Contactez l'équipe technique."))
    return secret


def _clock_now(request: Request) -> datetime:
    # Token lifetimes are real time: the business clock (ManualClock in tests, replays) does
    # not apply unless an app opts in with ``app.state.auth_clock``.
    clock = getattr(request.app.state, "auth_clock", None)
    return clock.now() if clock is not None else datetime.now(UTC)


def staff(*roles: StaffRole) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency giving the calling :class:`Principal` if their role is one of ``roles``
    (any role when none is given): ``Depends(staff(StaffRole.referent, StaffRole.admin))``."""
    allowed = frozenset(roles) or STAFF_ROLES

    # ``_bearer`` only puts the scheme in the OpenAPI; the header is read here to tell a
    # missing token from a malformed one.
    async def dependency(request: Request, _: Any = Depends(_bearer)) -> Principal:
        header = request.headers.get("Authorization")
        if not header:
            _unauthenticated("unauthenticated",
                             "Identification requise : fournissez un jeton valide dans l'en-tête "
                             f"`Authorization: Bearer <jeton>`. {TOKEN_HINT}", False)
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            _unauthenticated("unauthenticated",
                             "En-tête Authorization mal formé : attendu `Bearer <jeton>`. "
                             f"{TOKEN_HINT}", False)
        try:
            principal = decode_token(_secret_of(request), token.strip(), _clock_now(request))
        except TokenExpired:
            _unauthenticated("token_expired",
                             f"Votre jeton a expiré : demandez-en un nouveau. {TOKEN_HINT}", True)
        except InvalidCredentials as exc:
            log.info("staff token refused", reason=str(exc), path=request.url.path)
            _unauthenticated("unauthenticated",
                             f"Jeton invalide : fournissez un jeton valide. {TOKEN_HINT}", True)
        if principal.role not in allowed:
            names = ", ".join(ROLE_LABELS[r] for r in StaffRole if r in allowed)
            raise HTTPException(403, detail=error_body(
                "forbidden_role",
                f"Action réservée aux rôles suivants : {names} (votre rôle : "
                f"{ROLE_LABELS[principal.role]})."))
        return principal

    return dependency


def require_region(principal: Principal, region: str) -> None:
    """403 unless the principal may act on ``region``: staff with a region are limited to it."""
    if principal.region is not None and principal.region != region:
        raise HTTPException(403, detail=error_body(
            "forbidden_region",
            f"Vous êtes rattaché·e à la région {principal.region} : vous ne pouvez pas agir sur "
            f"la région {region}."))


def require_regions(principal: Principal, regions: Iterable[str]) -> None:
    """403 unless the principal may act on every one of ``regions`` (e.g. a person known in
    several regions). A regional principal may not act on what belongs to no known region:
    only national staff may."""
    regions = set(regions)
    if principal.region is None:
        return
    if not regions:
        raise HTTPException(403, detail=error_body(
            "forbidden_region",
            f"Vous êtes rattaché·e à la région {principal.region} : cette ressource n'est "
            "rattachée à aucune région, seul le personnel national peut agir dessus."))
    for region in sorted(regions):
        require_region(principal, region)


def visible_regions(principal: Principal) -> set[str] | None:
    """The regions the principal may see; None means all of them."""
    return None if principal.region is None else {principal.region}
