"""Calls to the four services' HTTP APIs on behalf of the signed-in staff member.

Each call carries a short-lived bearer token naming the account's subject, role and region:
the services keep enforcing who may read and do what. Their refusals come back as French
pages (401: sign in again, 403, 404, 503) or, for a form (422, 409), as messages next to its
fields (:class:`Answer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import httpx
import structlog

from services.backoffice.accounts import Account
from services.common.auth import issue_token
from services.common.settings import Settings
from services.common.web import PageError, SignInRequired, form_errors

log = structlog.get_logger(__name__)

ServiceName = Literal["intake", "matching", "followup", "reporting"]
TOKEN_TTL = timedelta(minutes=5)  # one page's calls; never stored


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def errors(self) -> dict[str, str]:
        """{field: French message} of a refused form (422 or 409)."""
        return form_errors(self.body)


class Backend:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None,
                 ) -> None:
        self.secret = settings.auth_secret or ""
        self.urls = {"intake": settings.intake_url, "matching": settings.matching_url,
                     "followup": settings.followup_url, "reporting": settings.reporting_url}
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=15.0),
                                      transport=transport)

    async def close(self) -> None:
        await self.http.aclose()

    def _headers(self, account: Account) -> dict[str, str]:
        token = issue_token(self.secret, account.subject, account.role, account.region,
                            ttl=TOKEN_TTL)
        return {"Authorization": f"Bearer {token}"}

    async def call(self, account: Account, service: ServiceName, method: str, path: str, *,
                   params: dict[str, Any] | None = None, json: Any = None,
                   form: bool = False) -> Answer:
        """One API call. With ``form=True`` a 422 or 409 comes back as an :class:`Answer` to
        show next to the form's fields; every other refusal raises the matching page."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.http.request(
                method, self.urls[service] + path, params=clean, json=json,
                headers=self._headers(account))
        except httpx.HTTPError as exc:
            log.warning("backend_unreachable", service=service, path=path, error=repr(exc))
            raise PageError(503, "Service momentanément indisponible",
                            f"Le service « {service} » ne répond pas. Réessayez dans quelques "
                            "instants ; rien n'a été enregistré.") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        answer = Answer(response.status_code, body)
        if answer.ok or (form and answer.status in (409, 422)):
            return answer
        raise _page_for(answer)

    async def get(self, account: Account, service: ServiceName, path: str, **params: Any) -> Any:
        return (await self.call(account, service, "GET", path, params=params)).body

    async def send(self, account: Account, service: ServiceName, path: str, payload: Any = None,
                   method: str = "POST") -> Answer:
        """A form's command: 422/409 come back to be shown next to the fields."""
        return await self.call(account, service, method, path, json=payload, form=True)


def _page_for(answer: Answer) -> Exception:
    message = next(iter(answer.errors.values()), None)
    if answer.status == 401:
        return SignInRequired()
    if answer.status == 403:
        return PageError(403, "Accès refusé", (message or "") + " Votre rôle ou votre région "
                         "ne permet pas d'accéder à ces données.")
    if answer.status == 404:
        return PageError(404, "Introuvable", message or "Cet élément n'existe pas (ou plus).")
    if answer.status in (409, 422, 400):
        return PageError(answer.status if answer.status != 400 else 422, "Demande refusée",
                         message or "La demande a été refusée.")
    if answer.status == 429:
        return PageError(429, "Trop de demandes", "Patientez une minute puis réessayez.")
    if answer.status == 503:
        return PageError(503, "Service momentanément indisponible", message or
                         "Un service ne répond pas ; réessayez dans quelques instants.")
    log.error("backend_error", status=answer.status)
    return PageError(502, "Erreur d'un service", "Un service du programme a rencontré une "
                     "erreur ; rien n'a été enregistré par cette page. Réessayez ; si cela "
                     "persiste, prévenez l'équipe technique.")
