"""HTTP plumbing shared by the services: one error shape, French messages, no stack traces.

Every 4xx answer is ``{"errors": [{"code", "field", "message"}]}``: a stable English code for
programs, the faulty field, and a French message for the person reading it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import nats.errors
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pydantic import BaseModel, Field
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import DBAPIError

from services.common.errors import DomainError
from services.common.outage import OutageWatch, outage_of
from services.common.store import ConcurrencyConflict

log = structlog.get_logger(__name__)

# pydantic error type -> (stable code, French message)
_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("required", "Ce champ est obligatoire."),
    "extra_forbidden": ("unknown_field", "Ce champ n'est pas attendu ; retirez-le."),
    "json_invalid": ("invalid_json", "Le corps de la requête n'est pas un JSON valide."),
    "model_attributes_type": ("invalid_type", "Un objet JSON est attendu."),
    "dict_type": ("invalid_type", "Un objet JSON est attendu."),
    "string_type": ("invalid_type", "Une chaîne de caractères est attendue."),
    "int_type": ("invalid_type", "Un nombre entier est attendu."),
    "int_parsing": ("invalid_type", "Un nombre entier est attendu."),
    "bool_type": ("invalid_type", "Une valeur vrai/faux est attendue."),
    "bool_parsing": ("invalid_type", "Une valeur vrai/faux est attendue."),
    "list_type": ("invalid_type", "Une liste est attendue."),
    "tuple_type": ("invalid_type", "Une liste est attendue."),
    "enum": ("invalid_choice", "Valeur inconnue : choisissez parmi {expected}."),
    "literal_error": ("invalid_choice", "Valeur inconnue : choisissez parmi {expected}."),
    "string_pattern_mismatch": ("invalid_format", "Le format n'est pas valide."),
    "string_too_short": ("too_short", "Ce champ est trop court (minimum {min_length})."),
    "string_too_long": ("too_long", "Ce champ est trop long (maximum {max_length} caractères)."),
    "too_short": ("too_short", "Il faut au moins {min_length} élément(s)."),
    "too_long": ("too_long", "Il faut au plus {max_length} élément(s)."),
    "greater_than_equal": ("out_of_range", "La valeur doit être au moins {ge}."),
    "less_than_equal": ("out_of_range", "La valeur doit être au plus {le}."),
    "greater_than": ("out_of_range", "La valeur doit être supérieure à {gt}."),
    "less_than": ("out_of_range", "La valeur doit être inférieure à {lt}."),
    "date_parsing": ("invalid_date", "Date invalide : utilisez le format AAAA-MM-JJ."),
    "date_from_datetime_parsing": ("invalid_date", "Date invalide : utilisez le format AAAA-MM-JJ."),
    "date_type": ("invalid_date", "Date invalide : utilisez le format AAAA-MM-JJ."),
    "datetime_parsing": ("invalid_datetime", "Date et heure invalides (format ISO 8601 attendu)."),
    "datetime_type": ("invalid_datetime", "Date et heure invalides (format ISO 8601 attendu)."),
    "timezone_aware": ("invalid_datetime", "Précisez le fuseau horaire (ex. +01:00 ou Z)."),
    "uuid_parsing": ("invalid_id", "Identifiant invalide (UUID attendu)."),
    "uuid_type": ("invalid_id", "Identifiant invalide (UUID attendu)."),
    "value_error": ("invalid_value", "Valeur invalide."),
    "int_from_float": ("invalid_type", "Un nombre entier est attendu."),
    "int_parsing_size": ("out_of_range", "Ce nombre est trop grand."),
    "float_type": ("invalid_type", "Un nombre est attendu."),
    "float_parsing": ("invalid_type", "Un nombre est attendu."),
    "finite_number": ("invalid_type", "Un nombre fini est attendu."),
    "string_unicode": ("invalid_type", "Une chaîne de caractères valide est attendue."),
    "string_sub_type": ("invalid_type", "Une chaîne de caractères est attendue."),
    "date_from_datetime_inexact": ("invalid_date", "Date invalide : utilisez le format "
                                   "AAAA-MM-JJ."),
    "datetime_from_date_parsing": ("invalid_datetime", "Date et heure invalides (format ISO "
                                   "8601 attendu)."),
    "datetime_object_invalid": ("invalid_datetime", "Date et heure invalides (format ISO "
                                "8601 attendu)."),
    "timezone_naive": ("invalid_datetime", "Date et heure invalides (format ISO 8601 "
                       "attendu)."),
    "uuid_version": ("invalid_id", "Identifiant invalide (UUID attendu)."),
    "set_type": ("invalid_type", "Une liste est attendue."),
    "frozen_set_type": ("invalid_type", "Une liste est attendue."),
    "iterable_type": ("invalid_type", "Une liste est attendue."),
    "union_tag_invalid": ("invalid_choice", "Valeur inconnue."),
    "union_tag_not_found": ("required", "Ce champ est obligatoire."),
    "model_type": ("invalid_type", "Un objet JSON est attendu."),
    "recursion_loop": ("invalid_json", "Le corps de la requête est trop profondément imbriqué."),
    "json_type": ("invalid_json", "Le corps de la requête n'est pas un JSON valide."),
    "none_required": ("invalid_type", "Aucune valeur n'est attendue ici."),
}
# At most this many errors in one answer: a body with thousands of faults gets a short answer.
MAX_ERRORS = 20
INVALID_JSON = ("invalid_json", "Le corps de la requête n'est pas un JSON valide (UTF-8, "
                "imbrication raisonnable).")


_CUSTOM_CODES: set[str] = set()


def french_error(code: str, message: str) -> PydanticCustomError:
    """A validation error of our own, raised from a validator: its code and French message
    reach the client as they are."""
    _CUSTOM_CODES.add(code)
    return PydanticCustomError(code, message)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"errors": [{"code": code, "field": field, "message": message}]}


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # A client's own key comes back: bounded, and encodable (a lone surrogate is not).
    field = ".".join(parts)[:200].encode("utf-8", "replace").decode("utf-8")
    return field or None


def _translate(error: dict[str, Any]) -> dict[str, Any]:
    if error["type"] in _CUSTOM_CODES:
        return {"code": error["type"], "field": _field(tuple(error.get("loc", ()))),
                "message": error["msg"]}
    code, template = _MESSAGES.get(error["type"], ("invalid", "Valeur invalide."))
    context = {k: v for k, v in (error.get("ctx") or {}).items()}
    if "expected" in context:  # pydantic writes "'a', 'b' or 'c'"
        context["expected"] = str(context["expected"]).replace(" or ", " ou ")
    try:
        message = template.format(**context)
    except (KeyError, IndexError):
        message = template
    return {"code": code, "field": _field(tuple(error.get("loc", ()))), "message": message}


def validation_body(errors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The answer to a refused body: its first errors, translated, and a note when there were
    more (never an answer larger than the request deserves)."""
    shown = [_translate(e) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        shown.append({"code": "too_many_errors", "field": None, "message": (
            f"{len(errors) - MAX_ERRORS} autre(s) erreur(s) non détaillée(s) : corrigez "
            "celles-ci puis renvoyez la requête.")})
    return {"errors": shown}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=validation_body(exc.errors()))

    @app.exception_handler(ConcurrencyConflict)
    async def conflict(_: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return JSONResponse(
            status_code=409,
            content=error_body(
                "conflict",
                "Ce dossier vient d'être modifié par quelqu'un d'autre : rechargez-le puis "
                "réessayez.",
            ),
        )

    @app.exception_handler(DomainError)
    async def refused(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(status_code=exc.status,
                            content=error_body(exc.code, exc.message, exc.field))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.detail, dict) and "errors" in exc.detail:
            content = exc.detail
        elif exc.status_code == 400:  # FastAPI could not decode the body (UTF-8, depth, size)
            return JSONResponse(status_code=422, content=error_body(*INVALID_JSON))
        else:
            content = error_body(_HTTP_CODES.get(exc.status_code, "error"),
                                 _HTTP_MESSAGES.get(exc.status_code, "La requête n'a pas pu être traitée."))
        return JSONResponse(status_code=exc.status_code, content=content,
                            headers=getattr(exc, "headers", None))

    # A database or NATS outage is answered here, below the server's error middleware,
    # which would log a second traceback of what is no bug (see services/common/outage.py).
    for outage_type in _OUTAGE_TYPES:
        app.add_exception_handler(outage_type, _unavailable_or_unexpected)
    app.add_exception_handler(Exception, _unavailable_or_unexpected)


async def _unavailable_or_unexpected(request: Request, exc: Exception) -> JSONResponse:
    dependency = outage_of(exc)
    if dependency is None:
        log.exception("unexpected error", path=request.url.path)
        return JSONResponse(
            status_code=500,
            content=error_body(
                "internal_error",
                "Une erreur inattendue est survenue ; réessayez dans un instant. Si elle "
                "persiste, contactez l'équipe technique.",
            ),
        )
    watch: OutageWatch | None = getattr(request.app.state, "outages", None)
    retry_after_s = watch.retry_after_s if watch is not None else 5
    if watch is not None:
        watch.down(dependency, exc)
    return JSONResponse(
        status_code=503, headers={"Retry-After": str(retry_after_s)},
        content=error_body(
            "unavailable",
            f"Service momentanément indisponible ; réessayez dans {retry_after_s} seconde"
            f"{'s' if retry_after_s > 1 else ''}.",
        ),
    )


# What an unreachable PostgreSQL or NATS raises (other errors of these types are bugs).
_OUTAGE_TYPES = (DBAPIError, OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                 nats.errors.Error)


_HTTP_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
               429: "rate_limited", 503: "unavailable"}
_HTTP_MESSAGES = {
    401: "Identification requise : fournissez un jeton valide (en-tête Authorization).",
    403: "Vous n'avez pas les droits pour cette action.",
    404: "Ressource introuvable : vérifiez l'adresse.",
    405: "Méthode non autorisée pour cette adresse.",
    409: "Cette action ne correspond pas à l'état actuel du dossier.",
    503: "Service momentanément indisponible ; réessayez dans un instant.",
}


# --- the documented error shape -------------------------------------------------------------

class ErrorItem(BaseModel):
    code: str = Field(description="code stable, en anglais, pour les programmes")
    field: str | None = Field(description="le champ en cause (ex. `birth_date`, "
                              "`referrer.email`), ou null")
    message: str = Field(description="explication en français, pour les personnes")


class ErrorBody(BaseModel):
    """Toute réponse 4xx (et 5xx) : la liste des erreurs."""

    errors: list[ErrorItem]


_ERROR_DESCRIPTIONS = {
    401: "Jeton absent, invalide ou expiré.",
    403: "Rôle ou région ne permettant pas cette action.",
    404: "Ressource introuvable.",
    409: "L'action ne correspond pas à l'état actuel (ou modification concurrente).",
    413: "Corps de requête trop volumineux.",
    422: "Requête invalide : rien n'est enregistré.",
    429: "Trop de requêtes depuis cette adresse : réessayez après le délai de Retry-After.",
}


def _error_statuses(method: str, path: str, operation: dict[str, Any],
                    rate_limited: Callable[[str, str], bool]) -> list[int]:
    statuses = [422]
    if operation.get("security"):
        statuses += [401, 403]
    if "{" in path or operation.get("security"):  # what a staff route reads may not exist
        statuses.append(404)
    if method != "get":
        statuses.append(409)
    if "requestBody" in operation:
        statuses.append(413)
    if rate_limited(method.upper(), path):
        statuses.append(429)
    return statuses


def install_error_schema(app: FastAPI, rate_limited: Callable[[str, str], bool]) -> None:
    """Document the real error answers in the app's OpenAPI: ErrorBody for every 4xx an
    operation can give, in place of FastAPI's ``{detail: [...]}`` (HTTPValidationError)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components["ErrorBody"] = body
        reference = {"$ref": "#/components/schemas/ErrorBody"}
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                for status in _error_statuses(method, path, operation, rate_limited):
                    responses[str(status)] = {
                        "description": _ERROR_DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": reference}}}
                    if status == 429:
                        responses["429"]["headers"] = {"Retry-After": {
                            "description": "secondes à attendre", "schema": {"type": "integer"}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- the interactive documentation, offline -------------------------------------------------

DOCS_ASSETS = "/docs-assets"
# Swagger UI 4 (what swagger-ui-bundle ships) reads OpenAPI 3.0 only: the page is given the
# same document, told 3.0 (nullable types in 3.0's words), while /openapi.json stays 3.1.
DOCS_OPENAPI = "/docs/openapi-3.0.json"


def _as_openapi_30(node: Any) -> Any:
    """A 3.1 fragment as 3.0 reads it: ``anyOf: [X, {type: null}]`` becomes X, nullable."""
    if isinstance(node, list):
        return [_as_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _as_openapi_30(value) for key, value in node.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        out.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        out["nullable"] = True
    if out.get("type") == "null":  # a lone null (e.g. a field always null)
        out.pop("type")
        out["nullable"] = True
    return out


def install_offline_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) with its script, stylesheet and icon served by the service itself
    from the ``swagger-ui-bundle`` package: the page works on a machine without internet.
    Build the app with ``docs_url=None, redoc_url=None`` (FastAPI's own pages load a CDN);
    neither route appears in the OpenAPI document."""
    import swagger_ui_bundle

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-assets")

    @app.get(DOCS_OPENAPI, include_in_schema=False)
    async def openapi_30() -> JSONResponse:
        return JSONResponse({**_as_openapi_30(app.openapi()), "openapi": "3.0.3"})

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=DOCS_OPENAPI, title=f"{app.title} — API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")
