"""Regions (admins): which regions take part, the départements each one serves, and their
objectives for the cohort being filled (intake's routing criteria)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.backoffice.pages.forms import (
    confirmation,
    confirmations,
    done,
    form_values,
    payload,
)
from services.backoffice.session import Staff, require_admin, signed_in
from services.common.web import PageError, unbound_errors

router = APIRouter(dependencies=[Depends(signed_in)])

FIELDS = ("served", "departements", "objective_mentees", "objective_mentors")

confirmations({
    "region_saved": "Les critères et objectifs de la région sont enregistrés.",
    "region_saved_routed": "Les critères et objectifs de la région sont enregistrés ; les "
                           "candidatures qui l'attendaient en liste d'attente lui sont "
                           "maintenant orientées.",
})


async def _regions(request: Request, staff: Staff) -> list[dict[str, Any]]:
    require_admin(staff)
    found = await request.app.state.backend.get(staff.account, "intake", "/staff/regions")
    return sorted(found, key=lambda r: (not r["served"], r["name"]))


@router.get("/regions")
async def regions(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    return request.app.state.pages.html(request, "regions/list.html", {
        "title": "Régions", "regions": await _regions(request, staff),
        "flash": confirmation(request)})


def _form_values(region: dict[str, Any]) -> dict[str, Any]:
    return {"served": ["oui"] if region["served"] else [],
            "departements": ", ".join(region["departements"]),
            "objective_mentees": str(region["objective_mentees"]),
            "objective_mentors": str(region["objective_mentors"])}


async def _edit_page(request: Request, staff: Staff, code: str,
                     values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                     status: int = 200) -> Response:
    region = next((r for r in await _regions(request, staff) if r["region"] == code), None)
    if region is None:
        raise PageError(404, "Région introuvable", f"Aucune région n'a le code « {code} ».")
    errors = errors or {}
    return request.app.state.pages.html(request, "regions/edit.html", {
        "title": f"Région {region['name']}", "region": region,
        "values": values or _form_values(region), "errors": errors,
        "general": unbound_errors(errors, FIELDS)}, status_code=status)


@router.get("/regions/{code}")
async def edit_region(request: Request, code: str,
                      staff: Staff = Depends(signed_in)) -> Response:
    return await _edit_page(request, staff, code[:8])


def departements_typed(text: str) -> list[str]:
    """« 29, 22 35 ; 56 » -> ["29", "22", "35", "56"] (the service checks each code)."""
    return [code.upper() for code in re.split(r"[\s,;]+", text) if code]


@router.post("/regions/{code}")
async def save_region(request: Request, code: str,
                      staff: Staff = Depends(signed_in)) -> Response:
    require_admin(staff)
    values = await form_values(request, lists=["served"])
    body = {"served": bool(values["served"]),
            "departements": departements_typed(values.get("departements", "")),
            **payload(values, "objective_mentees", "objective_mentors",
                      integers=("objective_mentees", "objective_mentors"))}
    answer = await request.app.state.backend.send(staff.account, "intake",
                                                  f"/staff/regions/{code[:8]}", body, "PUT")
    if not answer.ok:
        # a faulty département comes back as « departements.2 »: shown next to the list
        errors = {("departements" if field.isdigit() else field): message
                  for field, message in answer.errors.items()}
        return await _edit_page(request, staff, code[:8], values, errors, answer.status)
    routed = answer.body.get("routed_from_waiting_list")
    return done("/regions", "region_saved_routed" if routed else "region_saved")
