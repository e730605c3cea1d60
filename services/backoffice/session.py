"""Who is signed in, and the CSRF check of every form.

The session cookie carries a random token (HttpOnly, SameSite=Lax, Secure behind HTTPS);
PostgreSQL keeps only its SHA-256 with the expiry, so signing out or disabling an account ends
it at once. Signed-in forms carry the session's CSRF token (synchroniser pattern); the
anonymous ones (sign-in, invitation) a double-submit cookie (SameSite=Strict).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request, Response

from services.backoffice.accounts import Account, new_secret
from services.common.auth import StaffRole
from services.common.web import PageError, SignInRequired

SESSION_COOKIE = "succes_session"
ANONYMOUS_CSRF_COOKIE = "succes_csrf"
CSRF_FIELD = "csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSRF_REFUSED = PageError(403, "Formulaire expiré ou invalide", "Ce formulaire n'a pas pu être "
                         "vérifié (jeton de sécurité absent ou périmé) : rien n'a été "
                         "enregistré. Rechargez la page, puis renvoyez-le.")


@dataclass(frozen=True)
class Staff:
    """The signed-in person, for a page."""

    account: Account
    csrf_token: str
    session_token: str

    @property
    def role(self) -> StaffRole:
        return self.account.role

    @property
    def is_admin(self) -> bool:
        return self.account.role is StaffRole.admin

    @property
    def acts(self) -> bool:
        """Analysts read; referents and admins act."""
        return self.account.role in (StaffRole.referent, StaffRole.admin)


def now() -> datetime:
    return datetime.now(UTC)  # sessions run on the wall clock, not the business clock


def secure_cookies(request: Request) -> bool:
    return request.app.state.settings.backoffice_url.startswith("https://")


async def signed_in(request: Request) -> Staff:
    """The page's staff member (else off to the sign-in page); a POST must carry the
    session's CSRF token. Cached per request by FastAPI, so routers and routes share it."""
    cached = getattr(request.state, "staff", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    found = await request.app.state.accounts.session(token, now()) if token else None
    if found is None:
        raise SignInRequired()
    account, csrf = found
    staff = Staff(account, csrf, token)
    if request.method not in _SAFE_METHODS:
        form = await request.form()
        sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf):
            raise CSRF_REFUSED
    request.state.staff = staff
    request.state.page_context = {"staff": staff, "csrf_token": csrf}
    return staff


def require_admin(staff: Staff) -> None:
    if not staff.is_admin:
        raise PageError(403, "Accès refusé", "Cette page est réservée aux "
                        "administrateur·rices.")


def require_actor(staff: Staff) -> None:
    if not staff.acts:
        raise PageError(403, "Accès refusé", "Votre rôle (analyste) permet de consulter, pas "
                        "d'agir.")


# --- anonymous forms ------------------------------------------------------------------------

def anonymous_csrf(request: Request) -> str:
    """The double-submit token of this browser (set on the response by :func:`keep_csrf`)."""
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE)
    if not token or len(token) > 128:
        token = getattr(request.state, "new_csrf", None) or new_secret()[0]
        request.state.new_csrf = token
    return token


def keep_csrf(request: Request, response: Response) -> Response:
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(ANONYMOUS_CSRF_COOKIE, new, httponly=True, samesite="strict",
                            secure=secure_cookies(request), path="/")
    return response


async def check_anonymous_csrf(request: Request) -> None:
    form = await request.form()
    sent, kept = form.get(CSRF_FIELD), request.cookies.get(ANONYMOUS_CSRF_COOKIE)
    if not isinstance(sent, str) or not kept or not hmac.compare_digest(sent, kept):
        raise CSRF_REFUSED


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    hours = request.app.state.settings.backoffice_session_hours
    response.set_cookie(SESSION_COOKIE, token, max_age=int(hours * 3600), httponly=True,
                        samesite="lax", secure=secure_cookies(request), path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
