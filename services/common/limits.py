"""What one client may cost a service: a bounded request body and, on the public endpoints, a
bounded rate of requests per client address. Pure ASGI middlewares, before any parsing.

A body above the limit is refused with 413 ``body_too_large`` as soon as it is known to be too
large: from its Content-Length, or while a chunked body is read. A client sending faster than
its bucket refills gets 429 ``rate_limited`` with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.middleware.cors import CORSMiddleware

from services.common.api import error_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_TOO_LARGE = "body_too_large"
RATE_LIMITED = "rate_limited"


async def _answer(send: Send, status: int, body: dict[str, Any] | bytes,
                  headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    """JSON for the APIs; a web page's ready-made HTML (bytes) for browsers."""
    html = isinstance(body, bytes)
    payload = body if html else json.dumps(body, ensure_ascii=False).encode()
    kind = b"text/html; charset=utf-8" if html else b"application/json"
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", kind), (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": payload})


def _too_large(limit: int) -> dict[str, Any]:
    return error_body(BODY_TOO_LARGE, f"Le corps de la requête dépasse la taille maximale "
                      f"acceptée ({limit // 1024} Kio) : envoyez moins de données.")


class BodySizeLimit:
    """Refuse (413) any request body larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int, html_page: bytes | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.html_page = html_page  # web pages answer in French HTML, never JSON

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await _answer(send, 413, self.html_page or _too_large(self.max_bytes))
                return
            await self.app(scope, receive, send)
            return
        # No length announced (chunked): read up to the limit here, then hand it on.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client gone
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await _answer(send, 413, self.html_page or _too_large(self.max_bytes))
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One token bucket per key (a client address): ``burst`` requests at once, refilled at
    ``per_minute``. Bounded memory: the least recently seen keys are forgotten first."""

    def __init__(self, per_minute: float, burst: int, max_keys: int = 10_000,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_keys = max_keys
        self.now = now
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """0 if the request may go on; otherwise the seconds until a token is back."""
        now = self.now()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


# Our own web services (the participants' forms) post on behalf of a person: they name the
# person's address in this header, with a proof only a holder of SUCCESS_AUTH_SECRET can make.
FORWARDED_CLIENT_HEADER = "Success-Client-Address"
FORWARDING_PROOF_HEADER = "Success-Forwarding-Proof"


def forwarding_proof(secret: str, address: str) -> str:
    """The proof that ``address`` was named by one of our services (HMAC of the address, so
    a leaked proof only ever vouches for that same address)."""
    key = hashlib.sha256(b"succes client address forwarding v1" + secret.encode()).digest()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()


def forwarded_client_headers(secret: str, address: str | None) -> dict[str, str]:
    """Headers a service of ours adds when it calls a public endpoint for a person."""
    if not address:
        return {}
    return {FORWARDED_CLIENT_HEADER: address,
            FORWARDING_PROOF_HEADER: forwarding_proof(secret, address)}


def client_address(scope: Scope, secret: str | None) -> str:
    """Whose request this is: the socket's peer, or the address one of our services vouched
    for. Any other forwarding header is ignored: a client cannot pick its own bucket."""
    headers = dict(scope.get("headers") or ())
    named = headers.get(FORWARDED_CLIENT_HEADER.lower().encode(), b"").decode("latin-1")
    proof = headers.get(FORWARDING_PROOF_HEADER.lower().encode(), b"").decode("latin-1")
    if secret and named and proof:
        try:
            ipaddress.ip_address(named)
        except ValueError:
            named = ""
        if named and hmac.compare_digest(proof, forwarding_proof(secret, named)):
            return named
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimit:
    """Refuse (429) the requests ``applies(method, path)`` selects beyond a client's bucket."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets,
                 applies: Callable[[str, str], bool], forwarding_secret: str | None = None,
                 ) -> None:
        self.app = app
        self.buckets = buckets
        self.applies = applies
        self.forwarding_secret = forwarding_secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.applies(scope["method"], scope["path"]):
            wait = self.buckets.take(client_address(scope, self.forwarding_secret))
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                await _answer(send, 429, error_body(
                    RATE_LIMITED, f"Trop de requêtes depuis votre adresse : réessayez dans "
                    f"{seconds} seconde(s)."), [(b"retry-after", str(seconds).encode())])
                return
        await self.app(scope, receive, send)


def public_endpoint(method: str, path: str) -> bool:
    """The endpoints anyone may call without a token: the application forms."""
    return method == "POST" and path.startswith("/applications/")


class PublicCors:
    """CORS for the public forms only (POST /applications/* and their preflight), from the
    allowed origins alone (a CRESS site embedding a form); every other path is untouched."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, allow_origins=origins, allow_methods=["POST"],
                                   allow_headers=["Content-Type", "Idempotency-Key"],
                                   allow_credentials=False, max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "OPTIONS") and \
                scope["path"].startswith("/applications/"):
            await self.cors(scope, receive, send)
            return
        await self.app(scope, receive, send)
