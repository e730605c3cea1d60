"""Where a referent's reminders go (followup's staff directory): reviews to book, due and
overdue arrive at this address. A referent sets their own; an admin sets anyone's of their
scope (a referent id, as in the pairs' pages)."""

from __future__ import annotations

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
from services.backoffice.session import Staff, require_actor, signed_in
from services.common.web import unbound_errors

router = APIRouter(dependencies=[Depends(signed_in)])

FIELDS = ("referent_id", "region", "email", "display_name")

confirmations({"reminders_saved": "C'est noté : les rappels de ce·tte référent·e partiront à "
                                  "cette adresse."})


def _defaults(staff: Staff) -> dict[str, Any]:
    account = staff.account
    return {"referent_id": account.subject, "region": account.region or "",
            "email": account.email, "display_name": account.display_name}


def _page(request: Request, staff: Staff, values: dict[str, Any],
          errors: dict[str, str] | None = None, status: int = 200) -> Response:
    errors = errors or {}
    return request.app.state.pages.html(request, "reminders/form.html", {
        "title": "Adresse des rappels", "values": values, "errors": errors,
        "general": unbound_errors(errors, FIELDS), "flash": confirmation(request),
        "choose_referent": staff.is_admin, "choose_region": staff.account.region is None},
        status_code=status)


@router.get("/mes-rappels")
async def reminders_form(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    return _page(request, staff, _defaults(staff))


@router.post("/mes-rappels")
async def save_reminders(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = {**_defaults(staff), **await form_values(request)}
    if not staff.is_admin:
        values["referent_id"] = staff.account.subject  # a referent sets their own only
    if staff.account.region is not None:
        values["region"] = staff.account.region
    referent = values["referent_id"].strip() or staff.account.subject
    answer = await request.app.state.backend.send(
        staff.account, "followup", f"/staff/referents/{referent}",
        payload(values, "region", "email", "display_name"), method="PUT")
    if not answer.ok:
        return _page(request, staff, values, answer.errors, answer.status)
    return done("/mes-rappels", "reminders_saved")
