"""The web layer shared by the people-facing services (the staff back-office, the
participants' pages): Jinja2 templates with French formats, one stylesheet, French HTML error
pages, security headers. Server-rendered HTML that works without JavaScript; no CDN.

A service builds its :class:`Pages` with its own template directory; its templates extend
``base.html`` from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

PARIS = ZoneInfo("Europe/Paris")
_HERE = Path(__file__).parent
COMMON_TEMPLATES = _HERE / "web_templates"
STATIC_DIR = _HERE / "web_static"
STATIC_PREFIX = "/statique"

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre"]
NBSP = "\u202f"  # narrow no-break space: the French thousands separator


# --- French formats -------------------------------------------------------------------------

def french_number(value: Any, decimals: int = 0) -> str:
    if value is None or value == "":
        return "—"
    number = float(value)
    text = f"{number:,.{decimals}f}".replace(",", NBSP).replace(".", ",")
    return text


def french_percent(value: Any, decimals: int = 0) -> str:
    """A share (0.42) as « 42 % »."""
    if value is None:
        return "—"
    return f"{french_number(float(value) * 100, decimals)}{NBSP}%"


def _as_date(value: Any) -> date | datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (date, datetime)):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text \
            else date.fromisoformat(text)
    except ValueError:
        return None


def french_date(value: Any) -> str:
    """« 29 novembre 2026 » (a date, or an instant's day in Paris)."""
    parsed = _as_date(value)
    if parsed is None:
        return "—" if value in (None, "") else str(value)
    if isinstance(parsed, datetime):
        parsed = (parsed.astimezone(PARIS) if parsed.tzinfo else parsed).date()
    day = "1er" if parsed.day == 1 else str(parsed.day)
    return f"{day} {MONTHS[parsed.month - 1]} {parsed.year}"


def french_datetime(value: Any) -> str:
    """« 29 novembre 2026 à 14 h 05 » (Paris time)."""
    parsed = _as_date(value)
    if not isinstance(parsed, datetime):
        return french_date(value)
    local = parsed.astimezone(PARIS) if parsed.tzinfo else parsed
    return f"{french_date(local.date())} à {local.hour} h {local.minute:02d}"


def french_month(value: Any) -> str:
    """« mars 2027 » from a date or ``2027-03``."""
    text = str(value or "")
    if len(text) == 7 and text[4] == "-":
        text += "-01"
    parsed = _as_date(text)
    if parsed is None:
        return str(value or "—")
    return f"{MONTHS[parsed.month - 1]} {parsed.year}"


def paris_input_value(value: Any) -> str:
    """The value of an ``<input type=datetime-local>`` for an instant, in Paris time."""
    parsed = _as_date(value)
    if isinstance(parsed, datetime):
        local = parsed.astimezone(PARIS) if parsed.tzinfo else parsed
        return local.strftime("%Y-%m-%dT%H:%M")
    return "" if parsed is None else parsed.isoformat()


# --- templates ------------------------------------------------------------------------------

class Pages:
    """Templates of one web service; ``render`` fills in what every page needs."""

    def __init__(self, template_dir: Path, *, site_name: str,
                 globals: Mapping[str, Any] | None = None) -> None:
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(template_dir),
                                 FileSystemLoader(COMMON_TEMPLATES)]),
            autoescape=select_autoescape(["html", "xml"], default_for_string=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(
            nombre=french_number, pourcent=french_percent, date_fr=french_date,
            date_heure=french_datetime, mois=french_month, saisie_instant=paris_input_value)
        self.env.globals.update(site_name=site_name, static=STATIC_PREFIX, **(globals or {}))

    def html(self, request: Request, template: str, context: Mapping[str, Any] | None = None,
             status_code: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
        values = {"request": request, "path": request.url.path,
                  **getattr(request.state, "page_context", {}), **(context or {})}
        return HTMLResponse(self.env.get_template(template).render(values),
                            status_code=status_code, headers=dict(headers or {}))


def form_errors(body: Any) -> dict[str, str]:
    """The services' ``{"errors": [{"code", "field", "message"}]}`` as {field: message} (the
    first message per field; ``""`` collects those bound to no field of the form)."""
    found: dict[str, str] = {}
    for error in (body or {}).get("errors", []) if isinstance(body, dict) else []:
        field = (error.get("field") or "").split(".")[-1] if error.get("field") else ""
        found.setdefault(field, error.get("message") or "Valeur refusée.")
    return found


def unbound_errors(errors: Mapping[str, str], fields: Iterable[str]) -> list[str]:
    """Messages for fields the form does not show: said at the top of the form."""
    shown = set(fields)
    return [message for field, message in errors.items() if field not in shown]


# --- errors as French pages -----------------------------------------------------------------

class PageError(Exception):
    """An error page: status, title and what to do next, in French."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status, self.title, self.message = status, title, message


class SignInRequired(Exception):
    """No valid sign-in: go to the sign-in page, then come back."""


_TITLES = {
    400: ("Demande incorrecte", "La demande n'a pas pu être comprise. Revenez à la page "
          "précédente et réessayez."),
    401: ("Connexion nécessaire", "Connectez-vous pour accéder à cette page."),
    403: ("Accès refusé", "Votre compte ne permet pas d'accéder à cette page ou à ces "
          "données. Si vous pensez que c'est une erreur, adressez-vous à l'administrateur·rice "
          "de votre CRESS."),
    404: ("Page introuvable", "Cette page n'existe pas ou plus. Vérifiez l'adresse, ou "
          "repartez de l'accueil."),
    405: ("Action impossible", "Cette page ne s'utilise pas ainsi. Repartez de l'accueil."),
    413: ("Envoi trop volumineux", "Les données envoyées sont trop volumineuses. Raccourcissez "
          "les textes et réessayez."),
    422: ("Données invalides", "Certaines valeurs de la demande sont invalides. Revenez à la "
          "page précédente et corrigez-les."),
    429: ("Trop de demandes", "Trop de demandes en peu de temps. Patientez quelques minutes "
          "puis réessayez."),
    500: ("Erreur inattendue", "Une erreur inattendue s'est produite ; rien n'a été enregistré "
          "par cette page. Réessayez dans un instant ; si cela persiste, prévenez l'équipe "
          "technique."),
    503: ("Service momentanément indisponible", "Un des services du programme ne répond pas "
          "pour le moment. Réessayez dans quelques instants."),
}


def error_page(pages: Pages, request: Request, status: int, title: str | None = None,
               message: str | None = None, headers: Mapping[str, str] | None = None,
               ) -> HTMLResponse:
    default_title, default_message = _TITLES.get(status, _TITLES[500])
    return pages.html(request, "error.html", {"status": status, "title": title or default_title,
                                              "message": message or default_message},
                      status_code=status, headers=headers)


def install_html_errors(app: FastAPI, pages: Pages, sign_in_path: str | None = None) -> None:
    """Every error as a French HTML page; never JSON, never a stack trace."""

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_page(pages, request, exc.status, exc.title, exc.message)

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        if sign_in_path is None:
            return error_page(pages, request, 401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        response = RedirectResponse(f"{sign_in_path}?{_query(suite=target)}", status_code=303)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(pages, request, exc.status_code,
                          headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_page(pages, request, 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("web_page_failed", path=request.url.path)
        return error_page(pages, request, 500)


def _query(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def safe_next(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


# --- headers and static files ---------------------------------------------------------------

SECURITY_HEADERS = {
    # No script from anywhere but here, no framing, no referrer leaking personal links.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def install_web_basics(app: FastAPI, pages: Pages, max_body_bytes: int) -> None:
    """The shared stylesheet under /statique, security headers, no caching of pages (they
    show personal data), and a French page for a body over the size limit."""
    from starlette.requests import Request as PlainRequest

    from services.common.limits import BodySizeLimit

    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="statique")
    title, message = _TITLES[413]
    too_large = pages.env.get_template("error.html").render(
        request=PlainRequest({"type": "http", "path": "/", "headers": []}), path="/",
        status=413, title=title, message=message).encode()
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, html_page=too_large)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(STATIC_PREFIX):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def install_health(app: FastAPI, engine_of) -> None:
    """``/healthz`` (the process answers) and ``/readyz`` (its database answers) of a web
    front; ``engine_of(app)`` is its SQLAlchemy engine."""
    from fastapi.responses import JSONResponse

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        try:
            async with engine_of(request.app).connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})


def web_front(*, title: str, settings, pages: Pages, routers: Iterable, lifespan,
              engine_of, sign_in_path: str | None = None) -> FastAPI:
    """A web front for people (back-office, participants): its pages, the stylesheet, French
    error pages, security headers, correlation ids and health routes; no OpenAPI, since
    these are pages rather than an API."""
    from services.common.observability import install_correlation_middleware

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.settings = settings
    app.state.pages = pages
    install_web_basics(app, pages, settings.max_body_bytes)
    install_html_errors(app, pages, sign_in_path=sign_in_path)
    install_correlation_middleware(app)
    for router in routers:
        app.include_router(router)
    install_health(app, engine_of)
    return app
