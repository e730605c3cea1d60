"""Personal links: what an e-mail gives one participant to answer one thing themselves.

A link's token is sealed (AES-GCM under a key derived from ``SUCCESS_AUTH_SECRET``): it binds
one person, one purpose and one object (a pair, an event…) with an expiry, and reveals
nothing — no personal data, not even the pseudonymous id, is readable in the URL; a changed
character makes it invalid. Single use, where the link records an answer, is kept by the
participants service (the link's id is spent in the transaction that records it).

Followup seals links when it sends e-mails; the participants service opens them.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LINK_PATH = "/lien/"  # the participants service's page for every link: <base>/lien/<token>
_INFO = b"succes personal links v1"
_VERSION = b"\x01"
MAX_TOKEN_LENGTH = 400


class LinkPurpose(StrEnum):
    kickoff = "kickoff"                          # object: pair — the start of the journey
    end_questionnaire = "end_questionnaire"      # object: pair — end-of-programme questionnaire
    six_month_questionnaire = "six_month_questionnaire"  # object: pair — six months after
    annual_review = "annual_review"              # object: the year ("2027")
    declare_sessions = "declare_sessions"        # object: pair — a mentor declares sessions
    networking = "networking"                    # object: networking event — register, then come
    data_access = "data_access"                  # object: person — see, download, correct data
    erasure = "erasure"                          # object: person — confirm the erasure


# Links that record one answer are spent when used; the others open a page to come back to.
SINGLE_USE = frozenset({LinkPurpose.end_questionnaire, LinkPurpose.six_month_questionnaire,
                        LinkPurpose.annual_review, LinkPurpose.erasure})

DEFAULT_VALIDITY = {
    LinkPurpose.kickoff: timedelta(days=60),
    LinkPurpose.end_questionnaire: timedelta(days=60),
    LinkPurpose.six_month_questionnaire: timedelta(days=60),
    LinkPurpose.annual_review: timedelta(days=45),
    LinkPurpose.declare_sessions: timedelta(days=45),
    LinkPurpose.networking: timedelta(days=90),
    LinkPurpose.data_access: timedelta(hours=2),
    LinkPurpose.erasure: timedelta(hours=2),
}


class InvalidLink(Exception):
    """Tampered, truncated or not ours: nothing can be read from it."""


class ExpiredLink(Exception):
    """Ours and intact, but past its expiry (``expires_at``: when, to tell the person)."""

    def __init__(self, purpose: str, expires_at: datetime) -> None:
        super().__init__(purpose)
        self.purpose, self.expires_at = purpose, expires_at


@dataclass(frozen=True)
class Link:
    link_id: UUID
    purpose: LinkPurpose
    person_id: UUID
    object_id: str
    expires_at: datetime


def _key(secret: str) -> bytes:
    if not secret:
        raise ValueError("personal links need SUCCESS_AUTH_SECRET")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret.encode())


def seal(secret: str, purpose: LinkPurpose | str, person_id: UUID, object_id: str | UUID,
         now: datetime, validity: timedelta | None = None) -> str:
    """A new link token (URL-safe, ~150 characters)."""
    purpose = LinkPurpose(purpose)
    expires = now + (validity or DEFAULT_VALIDITY[purpose])
    body = json.dumps({"i": str(uuid4()), "p": purpose.value, "s": str(person_id),
                       "o": str(object_id), "e": int(expires.timestamp())},
                      separators=(",", ":")).encode()
    nonce = os.urandom(12)
    sealed = AESGCM(_key(secret)).encrypt(nonce, body, _VERSION)
    return base64.urlsafe_b64encode(_VERSION + nonce + sealed).rstrip(b"=").decode()


def open_link(secret: str, token: str, now: datetime) -> Link:
    """The link a token names, or InvalidLink / ExpiredLink."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidLink("empty or oversized token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise InvalidLink("not base64") from None
    if len(raw) < 1 + 12 + 16 or raw[:1] != _VERSION:
        raise InvalidLink("unknown version")
    try:
        body = AESGCM(_key(secret)).decrypt(raw[1:13], raw[13:], _VERSION)
        data = json.loads(body)
        link = Link(UUID(data["i"]), LinkPurpose(data["p"]), UUID(data["s"]), str(data["o"]),
                    datetime.fromtimestamp(int(data["e"]), UTC))
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise InvalidLink("tampered or not ours") from None
    if link.expires_at <= now:
        raise ExpiredLink(link.purpose.value, link.expires_at)
    return link


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{LINK_PATH}{token}"
