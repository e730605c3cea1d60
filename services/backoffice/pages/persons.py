"""Persons: find someone who phones (exact e-mail, or name and birth date), their
applications, correcting their e-mail or phone, and erasure (admins) after a confirmation step.

Never for analysts: finding a person reveals who applied (intake refuses them too).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.backoffice import intake_labels as words
from services.backoffice.pages.forms import (
    confirmation,
    confirmations,
    done,
    form_values,
    payload,
    rekeyed,
)
from services.backoffice.session import Staff, require_actor, require_admin, signed_in
from services.common.web import unbound_errors

router = APIRouter(dependencies=[Depends(signed_in)])

SEARCH_FIELDS = ("email", "first_name", "last_name", "birth_date")
CONTACT_INPUTS = {"email": "new_email", "phone": "new_phone"}
ERASE_CONFIRMATION = "confirm"

confirmations({
    "contact_corrected": "Les coordonnées sont corrigées.",
    "contact_unchanged": "Aucun changement : ces coordonnées étaient déjà enregistrées.",
    "person_erased": "Les données personnelles de la personne ont été détruites "
                     "définitivement ; ses candidatures restent comptées, sans identité.",
})


def _criteria(values: dict[str, Any]) -> dict[str, str]:
    return {name: str(values.get(name) or "").strip()[:200] for name in SEARCH_FIELDS}


def _grouped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The applications found, by person (one person for an exact e-mail)."""
    persons: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        persons.setdefault(row["person_id"], []).append(row)
    return [{"person_id": pid, "rows": found} for pid, found in persons.items()]


async def search_page(request: Request, staff: Staff, criteria: dict[str, str], *,
                      failed: str | None = None, values: dict[str, Any] | None = None,
                      errors: dict[str, str] | None = None, status: int = 200) -> Response:
    require_actor(staff)
    rows, search_errors = [], {}
    if any(criteria.values()):
        answer = await request.app.state.backend.call(
            staff.account, "intake", "GET", "/staff/persons", params=criteria, form=True)
        rows, search_errors = (answer.body if answer.ok else []), answer.errors
    errors = errors or {}
    return request.app.state.pages.html(request, "persons/search.html", {
        "title": "Personnes", "criteria": criteria, "search_errors": search_errors,
        "search_general": unbound_errors(search_errors, SEARCH_FIELDS),
        "searched": any(criteria.values()) and not search_errors,
        "persons": _grouped(rows), "failed": failed, "values": values or {}, "errors": errors,
        "general": unbound_errors(errors, CONTACT_INPUTS.values()), "words": words,
        "hidden_criteria": [(k, v) for k, v in criteria.items() if v],
        "flash": confirmation(request),
    }, status_code=422 if search_errors else status)


@router.get("/personnes")
async def persons(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    return await search_page(request, staff, _criteria(dict(request.query_params)))


@router.post("/personnes/{person_id}/coordonnees")
async def correct_contact(request: Request, person_id: UUID,
                          staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    criteria = _criteria(values)
    body = payload({"email": values.get("new_email"), "phone": values.get("new_phone")},
                   "email", "phone")
    answer = await request.app.state.backend.send(
        staff.account, "intake", f"/staff/persons/{person_id}/contact", body, method="PUT")
    if not answer.ok:
        return await search_page(request, staff, criteria, failed=str(person_id),
                                 values=values, errors=rekeyed(answer.errors, CONTACT_INPUTS),
                                 status=answer.status)
    if criteria["email"] and body.get("email"):  # the old e-mail finds nobody any more
        criteria["email"] = body["email"]
    query = urlencode({k: v for k, v in criteria.items() if v})
    code = "contact_corrected" if answer.body.get("corrected") else "contact_unchanged"
    return done(f"/personnes?{query}" if query else "/personnes", code)


async def _erase_page(request: Request, staff: Staff, person_id: UUID, application: str,
                      errors: dict[str, str] | None = None, status: int = 200) -> Response:
    require_admin(staff)
    identity, rows = None, []
    if application:
        detail = await request.app.state.backend.get(
            staff.account, "intake", f"/staff/applications/{UUID(application)}")
        if detail["application"]["person_id"] == str(person_id):
            identity, rows = detail.get("identity") or {}, [detail["application"]]
    name = " ".join(filter(None, [(identity or {}).get("first_name"),
                                  (identity or {}).get("last_name")])) or "cette personne"
    errors = errors or {}
    return request.app.state.pages.html(request, "persons/erase.html", {
        "title": f"Effacer définitivement {name} ?", "person_id": str(person_id),
        "application": application, "rows": rows, "errors": errors, "values": {},
        "general": unbound_errors(errors, [ERASE_CONFIRMATION]), "words": words,
    }, status_code=status)


def _application_id(text: str | None) -> str:
    try:
        return str(UUID(text)) if text else ""
    except ValueError:
        return ""


@router.get("/personnes/{person_id}/effacement")
async def erase_confirmation(request: Request, person_id: UUID,
                             staff: Staff = Depends(signed_in)) -> Response:
    return await _erase_page(request, staff, person_id,
                             _application_id(request.query_params.get("candidature")))


@router.post("/personnes/{person_id}/effacement")
async def erase(request: Request, person_id: UUID,
                staff: Staff = Depends(signed_in)) -> Response:
    require_admin(staff)
    values = await form_values(request, lists=[ERASE_CONFIRMATION])
    application = _application_id(values.get("candidature"))
    if not values[ERASE_CONFIRMATION]:
        return await _erase_page(request, staff, person_id, application, {
            ERASE_CONFIRMATION: "Cochez la case pour confirmer : l'effacement est "
                                "irréversible."}, 422)
    answer = await request.app.state.backend.send(
        staff.account, "intake", f"/staff/persons/{person_id}", method="DELETE")
    if not answer.ok:
        return await _erase_page(request, staff, person_id, application, answer.errors,
                                 answer.status)
    return done("/personnes", "person_erased")
