"""The pool of a region: who waits and why, each mentor's free places, and the proposals
left pending too long."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.backoffice.pages.matching_shared import (
    TEMPLATE_GLOBALS,
    chosen_region,
    directory,
    regions_for,
)
from services.backoffice.session import Staff, signed_in
from services.common.web import PageError

router = APIRouter(dependencies=[Depends(signed_in)])

DEFAULT_STALE_DAYS = 7


def _days(text: str | None) -> int:
    if not text:
        return DEFAULT_STALE_DAYS
    if not text.isdigit() or int(text) > 3650:
        raise PageError(422, "Valeur invalide", "L'ancienneté des propositions s'exprime en "
                        "jours, un nombre entier entre 0 et 3650.")
    return int(text)


@router.get("/vivier")
async def pool(request: Request, region: str | None = None, anciennete: str | None = None,
               staff: Staff = Depends(signed_in)) -> Response:
    region = chosen_region(request, staff, region)
    days = _days(anciennete)
    backend = request.app.state.backend
    waiting = await backend.get(staff.account, "matching", "/staff/pool", region=region)
    stale = await backend.get(staff.account, "matching", "/staff/proposals", region=region,
                              stale_after_days=days)
    people = await directory(request, staff, region, [
        *(m["person_id"] for m in [*waiting["mentees"], *waiting["mentors"]]),
        *(p[role] for p in stale for role in ("mentee_id", "mentor_id"))])
    return request.app.state.pages.html(request, "pool/pool.html", {
        **TEMPLATE_GLOBALS, "title": f"Vivier de la région {region}", "region": region,
        "regions": [(r, r) for r in regions_for(request, staff)], "days": days,
        "pool": waiting, "stale": stale, "person": people.person,
        "values": {"region": region, "anciennete": str(days)}, "errors": {},
    })
