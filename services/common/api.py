"""HTTP plumbing shared by the services: one error shape, French messages, no stack traces.

Every 4xx answer is ``{"errors": [{"code", "field", "message"}]}``: a stable English code for
programs, the faulty field, and a French message for the person reading it.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import nats.errors
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    "value_error": ("invalid_value", "{msg}"),
}


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
    return ".".join(parts) or None


def _translate(error: dict[str, Any]) -> dict[str, Any]:
    if error["type"] in _CUSTOM_CODES:
        return {"code": error["type"], "field": _field(tuple(error.get("loc", ()))),
                "message": error["msg"]}
    code, template = _MESSAGES.get(error["type"], ("invalid", "Valeur invalide."))
    context = {k: v for k, v in (error.get("ctx") or {}).items()}
    if error["type"] == "value_error":
        # Our own validators raise ValueError with a French message.
        context["msg"] = str(context.get("error", error.get("msg", "Valeur invalide.")))
    if "expected" in context:  # pydantic writes "'a', 'b' or 'c'"
        context["expected"] = str(context["expected"]).replace(" or ", " ou ")
    try:
        message = template.format(**context)
    except (KeyError, IndexError):
        message = template
    return {"code": code, "field": _field(tuple(error.get("loc", ()))), "message": message}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"errors": [_translate(e) for e in exc.errors()]}
        )

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
        else:
            content = error_body(_HTTP_CODES.get(exc.status_code, "error"),
                                 _HTTP_MESSAGES.get(exc.status_code, str(exc.detail)))
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
               405: "method_not_allowed", 409: "conflict", 503: "unavailable"}
_HTTP_MESSAGES = {
    401: "Identification requise : fournissez un jeton valide (en-tête Authorization).",
    403: "Vous n'avez pas les droits pour cette action.",
    404: "Ressource introuvable : vérifiez l'adresse.",
    405: "Méthode non autorisée pour cette adresse.",
    503: "Service momentanément indisponible ; réessayez dans un instant.",
}
