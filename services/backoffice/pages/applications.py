"""Applications: the region's inbox (filters, new since yesterday, search by name or e-mail)
and an application's page (history as a French timeline, identity, screening actions).

Intake scopes every list and refuses what a role or region may not do; these pages only hide
the actions a role cannot take (analysts read, without identity or search).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
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
    paris_instant,
    payload,
    rekeyed,
)
from services.backoffice.session import Staff, require_actor, signed_in
from services.common.web import PARIS, french_date, unbound_errors

router = APIRouter(dependencies=[Depends(signed_in)])

PAGE_SIZE = 50
FILTERS = ("status", "channel", "role", "cohort", "region", "du", "au")
SEARCH_FIELDS = ("email", "first_name", "last_name", "birth_date")

confirmations({
    "interview_scheduled": "L'entretien est programmé.",
    "interview_recorded": "L'avis sur l'entretien est enregistré.",
    "admitted": "La personne est admise : elle rejoint le vivier de sa région.",
    "declined": "La candidature n'est pas retenue : la décision est enregistrée.",
    "withdrawn": "Le retrait est enregistré.",
    "rerouted": "La candidature est réorientée vers la région choisie.",
})

# status -> the actions a referent can take (the service still decides; this hides the rest)
_SCREENING = {"interview", "decline", "withdrawal", "reroute"}
ACTIONS_BY_STATUS: dict[str, set[str]] = {
    "routed": _SCREENING,
    "interview_scheduled": _SCREENING | {"outcome"},
    "interviewed": _SCREENING | {"outcome", "admit"},
    "waiting_list": {"withdrawal", "reroute"},
    "admitted": {"withdrawal"},
}
# action -> the form's inputs, and the service's field names they stand for
ACTION_FIELDS: dict[str, dict[str, str]] = {
    "interview": {"scheduled_at": "scheduled_at", "format": "format"},
    "admit": {},
    "decline": {"reason": "decline_reason"},
    "withdrawal": {"reason": "withdrawal_reason"},
    "reroute": {"to_region": "to_region", "reason": "reroute_reason"},
}


def business_today(request: Request) -> date:
    return request.app.state.clock.now().astimezone(PARIS).date()


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) <= 10_000 else 1


def _url(values: dict[str, str], **changes: Any) -> str:
    query = {k: v for k, v in {**values, **changes}.items() if v not in (None, "")}
    return "/candidatures" + (f"?{urlencode(query)}" if query else "")


@router.get("/candidatures")
async def inbox(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    query = request.query_params
    values = {name: (query.get(name) or "").strip()[:200] for name in FILTERS + SEARCH_FIELDS}
    page = _page_number(query.get("page"))
    searching = staff.acts and any(values[name] for name in SEARCH_FIELDS)
    backend = request.app.state.backend
    if searching:
        answer = await backend.call(staff.account, "intake", "GET", "/staff/persons", form=True,
                                    params={name: values[name] for name in SEARCH_FIELDS})
        rows, more, errors = answer.body if answer.ok else [], False, answer.errors
    else:
        answer = await backend.call(staff.account, "intake", "GET", "/staff/applications",
                                    form=True, params={
            "status": values["status"], "channel": values["channel"], "role": values["role"],
            "cohort": values["cohort"], "region": values["region"],
            "submitted_from": values["du"], "submitted_to": values["au"],
            "limit": PAGE_SIZE + 1, "offset": (page - 1) * PAGE_SIZE})
        rows = answer.body if answer.ok else []
        more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
        errors = rekeyed(answer.errors, {"submitted_from": "du", "submitted_to": "au"})
    since = (business_today(request) - timedelta(days=1)).isoformat()
    return request.app.state.pages.html(request, "applications/inbox.html", {
        "title": "Candidatures", "rows": rows, "values": values, "errors": errors,
        "general": unbound_errors(errors, FILTERS + SEARCH_FIELDS), "searching": searching,
        "flash": confirmation(request), "words": words, "page": page,
        "new_since_url": _url({}, du=since), "new_since_active": values["du"] == since,
        "previous_url": _url(values, page=page - 1) if page > 1 and not searching else None,
        "next_url": _url(values, page=page + 1) if more else None,
        "regional": staff.account.region is not None,
    }, status_code=422 if errors else 200)


async def application_page(request: Request, application_id: UUID, staff: Staff, *,
                           action: str | None = None, values: dict[str, Any] | None = None,
                           errors: dict[str, str] | None = None, status: int = 200) -> Response:
    detail = await request.app.state.backend.get(staff.account, "intake",
                                                 f"/staff/applications/{application_id}")
    row, history, errors = detail["application"], detail["history"], errors or {}
    interviews = words.pending_interviews(history)
    shown = set(ACTION_FIELDS.get(action or "", {}).values()) | {
        f"outcome_{i['interview_id']}" for i in interviews}
    return request.app.state.pages.html(request, "applications/detail.html", {
        "title": f"Candidature du {french_date(row['submitted_at'])}", "row": row,
        "timeline": words.timeline(history), "identity": detail.get("identity") if staff.acts
        else None, "actions": ACTIONS_BY_STATUS.get(row["status"], set()) if staff.acts
        else set(), "interviews": interviews, "words": words, "action": action,
        "values": values or {}, "errors": errors, "general": unbound_errors(errors, shown),
        "flash": confirmation(request),
    }, status_code=status)


@router.get("/candidatures/{application_id}")
async def application(request: Request, application_id: UUID,
                      staff: Staff = Depends(signed_in)) -> Response:
    return await application_page(request, application_id, staff)


async def _command(request: Request, staff: Staff, application_id: UUID, action: str,
                   path: str, body: dict[str, Any] | None, code: str,
                   names: dict[str, str] | None = None,
                   then: Callable[[dict[str, Any]], str] | None = None) -> Response:
    """Send one screening command; a refusal shows the page again with the messages next
    to the fields of the form that was sent."""
    require_actor(staff)
    values = await form_values(request)
    answer = await request.app.state.backend.send(
        staff.account, "intake", f"/staff/applications/{application_id}{path}", body)
    if not answer.ok:
        errors = rekeyed(answer.errors, names if names is not None else
                         ACTION_FIELDS.get(action, {}))
        return await application_page(request, application_id, staff, action=action,
                                      values=values, errors=errors, status=answer.status)
    if then is not None:
        return done(then(answer.body), code)
    return done(f"/candidatures/{application_id}", code)


@router.post("/candidatures/{application_id}/entretiens")
async def schedule_interview(request: Request, application_id: UUID,
                             staff: Staff = Depends(signed_in)) -> Response:
    values = await form_values(request)
    body = payload({**values, "scheduled_at": paris_instant(values.get("scheduled_at"))},
                   "scheduled_at", "format")
    return await _command(request, staff, application_id, "interview", "/interviews", body,
                          "interview_scheduled")


@router.post("/candidatures/{application_id}/entretiens/{interview_id}/avis")
async def record_interview(request: Request, application_id: UUID, interview_id: UUID,
                           staff: Staff = Depends(signed_in)) -> Response:
    field = f"outcome_{interview_id}"
    values = await form_values(request)
    return await _command(request, staff, application_id, f"outcome:{interview_id}",
                          f"/interviews/{interview_id}/outcome",
                          payload({"outcome": values.get(field)}, "outcome"), "interview_recorded",
                          names={"outcome": field})


@router.post("/candidatures/{application_id}/admission")
async def admit(request: Request, application_id: UUID,
                staff: Staff = Depends(signed_in)) -> Response:
    return await _command(request, staff, application_id, "admit", "/admit", None, "admitted")


@router.post("/candidatures/{application_id}/refus")
async def decline(request: Request, application_id: UUID,
                  staff: Staff = Depends(signed_in)) -> Response:
    values = await form_values(request)
    return await _command(request, staff, application_id, "decline", "/decline",
                          payload({"reason": values.get("decline_reason")}, "reason"), "declined")


@router.post("/candidatures/{application_id}/retrait")
async def withdraw(request: Request, application_id: UUID,
                   staff: Staff = Depends(signed_in)) -> Response:
    values = await form_values(request)
    return await _command(request, staff, application_id, "withdrawal", "/withdrawal",
                          payload({"reason": values.get("withdrawal_reason")}, "reason"), "withdrawn")


@router.post("/candidatures/{application_id}/reorientation")
async def reroute(request: Request, application_id: UUID,
                  staff: Staff = Depends(signed_in)) -> Response:
    values = await form_values(request)

    def back(row: dict[str, Any]) -> str:  # a referent no longer sees it once elsewhere
        visible = staff.account.region in (None, row.get("region"))
        return f"/candidatures/{application_id}" if visible else "/candidatures"

    return await _command(request, staff, application_id, "reroute", "/reroute", payload(
        {**values, "reason": values.get("reroute_reason")}, "to_region", "reason"), "rerouted",
        then=back)
