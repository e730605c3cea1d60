"""Sign-in, sign-out and invitations (setting a password from the e-mailed one-time link)."""

from __future__ import annotations

from datetime import timedelta

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.backoffice.accounts import (
    AccountError,
    Throttle,
    check_new_password,
    hash_password,
    password_matches,
)
from services.backoffice.session import (
    SESSION_COOKIE,
    anonymous_csrf,
    check_anonymous_csrf,
    clear_session_cookie,
    keep_csrf,
    now,
    set_session_cookie,
    signed_in,
)
from services.common.web import PARIS, PageError, safe_next

log = structlog.get_logger(__name__)
router = APIRouter()

WRONG_CREDENTIALS = ("Adresse e-mail ou mot de passe incorrect. Vérifiez-les, ou demandez une "
                     "nouvelle invitation à l'administrateur·rice de votre CRESS.")


def _throttle(request: Request) -> Throttle:
    settings = request.app.state.settings
    return Throttle(settings.signin_max_failures,
                    timedelta(minutes=settings.signin_lockout_minutes))


def _signin_page(request: Request, *, email: str = "", suite: str = "/", error: str | None = None,
                 flash: str | None = None, status: int = 200) -> Response:
    response = request.app.state.pages.html(request, "signin.html", {
        "title": "Connexion", "csrf_token": anonymous_csrf(request), "email": email,
        "suite": safe_next(suite), "error": error, "flash": flash}, status_code=status)
    return keep_csrf(request, response)


@router.get("/connexion")
async def signin_form(request: Request, suite: str = "/", etat: str = "") -> Response:
    flash = {"deconnecte": "Vous êtes déconnecté·e.",
             "bienvenue": "Votre mot de passe est enregistré : connectez-vous."}.get(etat)
    return _signin_page(request, suite=suite, flash=flash)


@router.post("/connexion")
async def signin(request: Request) -> Response:
    await check_anonymous_csrf(request)
    form = await request.form()
    email = str(form.get("email") or "").strip().lower()[:320]
    password = str(form.get("password") or "")
    suite = safe_next(str(form.get("suite") or "/"))
    accounts, throttle, instant = request.app.state.accounts, _throttle(request), now()
    keys = throttle.keys(email, request.client.host if request.client else "inconnu")
    failures = await accounts.recent_failures(keys, instant - throttle.window)
    locked_until = throttle.locked_until(failures, *keys)
    if locked_until is not None:
        log.warning("signin_throttled")
        until = locked_until.astimezone(PARIS)
        return _signin_page(request, email=email, suite=suite, status=429, error=(
            f"Trop de tentatives de connexion infructueuses : par sécurité, réessayez après "
            f"{until.hour} h {until.minute:02d}. Si vous avez oublié votre mot de passe, "
            f"demandez une nouvelle invitation à l'administrateur·rice de votre CRESS."))
    account, stored = await accounts.credentials(email)
    if account is None or not account.active or not password_matches(stored, password):
        await accounts.record_failure(keys, instant, keep=throttle.window * 2)
        log.info("signin_failed")
        return _signin_page(request, email=email, suite=suite, status=401,
                            error=WRONG_CREDENTIALS)
    await accounts.clear_failures(keys[0])
    token = await accounts.open_session(
        account, instant, timedelta(hours=request.app.state.settings.backoffice_session_hours))
    log.info("signin", subject=account.subject, role=account.role.value)
    response = RedirectResponse(suite, status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.post("/deconnexion")
async def signout(request: Request) -> Response:
    staff = await signed_in(request)
    await request.app.state.accounts.close_session(staff.session_token)
    response = RedirectResponse("/connexion?etat=deconnecte", status_code=303)
    clear_session_cookie(response)
    return response


INVITATION_GONE = PageError(
    404, "Lien d'invitation expiré ou déjà utilisé", "Ce lien ne permet plus de choisir un mot "
    "de passe (il a expiré ou a déjà servi). Demandez une nouvelle invitation à "
    "l'administrateur·rice de votre CRESS (commande `success staff invite`).")


@router.get("/invitation/{token}")
async def invitation_form(request: Request, token: str) -> Response:
    account = await request.app.state.accounts.invitation(token[:128], now())
    if account is None:
        raise INVITATION_GONE
    return _invitation_page(request, token, account.email)


def _invitation_page(request: Request, token: str, email: str, errors: dict | None = None,
                     status: int = 200) -> Response:
    response = request.app.state.pages.html(request, "invitation.html", {
        "title": "Choisir votre mot de passe", "csrf_token": anonymous_csrf(request),
        "token": token, "email": email, "errors": errors or {}}, status_code=status)
    return keep_csrf(request, response)


@router.post("/invitation/{token}")
async def accept_invitation(request: Request, token: str) -> Response:
    await check_anonymous_csrf(request)
    accounts = request.app.state.accounts
    account = await accounts.invitation(token[:128], now())
    if account is None:
        raise INVITATION_GONE
    form = await request.form()
    password = str(form.get("password") or "")
    try:
        check_new_password(password, str(form.get("password_confirmation") or ""))
    except AccountError as error:
        return _invitation_page(request, token, account.email, {error.field: error.message}, 422)
    if not await accounts.accept_invitation(token[:128], hash_password(password), now()):
        raise INVITATION_GONE
    response = RedirectResponse("/connexion?etat=bienvenue", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
