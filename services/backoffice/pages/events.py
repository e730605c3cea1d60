"""Networking events (followup): the list with registration and attendance counts, creating
one, registering the audience's mentees and mentors, recording attendance; and the summer
annual review's anonymous answers of referents and partners."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.backoffice.pages.followup_labels import ANNUAL_RESPONDENTS, template_labels
from services.backoffice.pages.forms import (
    confirmation,
    confirmations,
    done,
    form_values,
    paris_instant,
    payload,
    prefixed,
    unprefixed,
)
from services.backoffice.session import Staff, require_actor, signed_in
from services.common.web import unbound_errors

router = APIRouter(dependencies=[Depends(signed_in)])

confirmations({
    "evenement": "L'évènement est programmé.",
    "inscription": "L'inscription est enregistrée.",
    "presence": "La présence est enregistrée.",
    "bilan-annuel": "La réponse anonyme au bilan annuel est enregistrée.",
})

EVENT_FIELDS = ("region", "kind", "audience", "starts_at", "format", "departement")
# Which pairs' people each audience takes in (followup checks it again).
AUDIENCE_PAIRS = {"current_pairs": {"active"}, "alumni": {"ended"}, "all": {"active", "ended"}}


def _page(request: Request, template: str, context: Mapping[str, Any],
          status: int = 200) -> Response:
    return request.app.state.pages.html(request, template, {
        **template_labels(), "flash": confirmation(request), "values": {}, "errors": {},
        "alerts": {}, **context}, status_code=status)


async def _region_options(request: Request, staff: Staff) -> list[tuple[str, str]]:
    """The regions a national staff member chooses from (a regional one acts in theirs)."""
    if staff.account.region:
        return [(staff.account.region, staff.account.region)]
    regions = await request.app.state.backend.get(staff.account, "intake", "/staff/regions")
    return sorted((r["region"], r["name"]) for r in regions if r["served"])


# --- the list, and a new event --------------------------------------------------------------

async def events_page(request: Request, staff: Staff, values: Mapping[str, Any] | None = None,
                      errors: Mapping[str, str] | None = None, status: int = 200) -> Response:
    rows = await request.app.state.backend.get(staff.account, "followup",
                                               "/staff/networking-events")
    errors = dict(errors or {})
    return _page(request, "events/list.html", {
        "title": "Évènements", "events": sorted(rows, key=lambda e: e["starts_at"],
                                                reverse=True),
        "region_options": await _region_options(request, staff) if staff.acts else [],
        "values": values or {}, "errors": errors,
        "alerts": {"": unbound_errors(errors, EVENT_FIELDS)}}, status)


@router.get("/evenements")
async def events(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    return await events_page(request, staff)


@router.post("/evenements")
async def create_event(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    body = payload({**values, "region": staff.account.region or values.get("region")},
                   *EVENT_FIELDS)
    if "starts_at" in body:
        body["starts_at"] = paris_instant(body["starts_at"])
    answer = await request.app.state.backend.send(staff.account, "followup",
                                                  "/staff/networking-events", body)
    if not answer.ok:
        return await events_page(request, staff, values, answer.errors, answer.status)
    return done(f"/evenements/{answer.body['networking_event_id']}", "evenement")


# --- the annual review (before /evenements/{id}: a fixed path wins) ------------------------

def _annual_prefix(respondent: str) -> str:
    return f"annuel-{respondent}-"


async def annual_page(request: Request, staff: Staff, values: Mapping[str, Any] | None = None,
                      errors: Mapping[str, str] | None = None, failed: str = "",
                      status: int = 200) -> Response:
    require_actor(staff)
    catalogue = await request.app.state.backend.get(staff.account, "followup",
                                                    "/questionnaires")
    version = catalogue["current_version"]
    forms = [{"respondent": code, "label": text, "prefix": _annual_prefix(code),
              "questions": next((q["questions"] for q in catalogue["questionnaires"]
                                 if q["version"] == version and q["kind"] == "annual"
                                 and q["respondent"] == code), [])}
             for code, text in ANNUAL_RESPONDENTS]
    errors = dict(errors or {})
    return _page(request, "events/annual.html", {
        "title": "Bilan annuel", "forms": forms,
        "region_options": await _region_options(request, staff),
        "values": values or {}, "errors": errors,
        "alerts": {failed: unbound_errors(errors, (f"{failed}region",))} if failed else {}},
        status)


@router.get("/evenements/bilan-annuel")
async def annual(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    return await annual_page(request, staff)


@router.post("/evenements/bilan-annuel/{respondent}")
async def answer_annual(request: Request, respondent: str,
                        staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    prefix = _annual_prefix(respondent)
    values = await form_values(request)
    fields = unprefixed(values, prefix)
    answers = {key.removeprefix("reponse-"): int(value) for key, value in fields.items()
               if key.startswith("reponse-") and value.isdigit()}
    body = {"region": staff.account.region or fields.get("region"), "respondent": respondent,
            "answers": answers}
    answer = await request.app.state.backend.send(staff.account, "followup",
                                                  "/staff/questionnaires/annual", body)
    if not answer.ok:
        return await annual_page(request, staff, values, prefixed(answer.errors, prefix),
                                 prefix, answer.status)
    return done("/evenements/bilan-annuel", "bilan-annuel")


# --- one event: registrations and attendance ------------------------------------------------

def audience_people(event: Mapping[str, Any], pairs: list[dict]) -> list[tuple[str, str]]:
    """(``role:person_id``, French label) of the pairs' people the event's audience takes in,
    each person once, those already registered left out."""
    registered = {r["person_id"] for r in event["registrations"]}
    statuses = AUDIENCE_PAIRS.get(event["audience"], set())
    people: dict[str, str] = {}
    for pair in pairs:
        if pair["status"] not in statuses:
            continue
        for role, person_id, text in (("mentee", pair["mentee_id"], "Mentoré·e"),
                                      ("mentor", pair["mentor_id"], "Mentor")):
            if person_id not in registered:
                people.setdefault(f"{role}:{person_id}", f"{text} n° {person_id[:8]} — binôme "
                                  f"n° {pair['pair_id'][:8]} ({pair['cohort_id']})")
    return sorted(people.items(), key=lambda item: item[1])


async def event_page(request: Request, event_id: UUID, staff: Staff,
                     values: Mapping[str, Any] | None = None,
                     errors: Mapping[str, str] | None = None, failed: str = "",
                     status: int = 200) -> Response:
    backend = request.app.state.backend
    event = await backend.get(staff.account, "followup", f"/staff/networking-events/{event_id}")
    people = []
    if staff.acts:
        pairs = await backend.get(staff.account, "followup", "/staff/pairs",
                                  region=event["region"])
        people = audience_people(event, pairs)
    errors = dict(errors or {})
    return _page(request, "events/event.html", {
        "title": "Évènement", "event": event, "people": people, "values": values or {},
        "errors": errors,
        "alerts": {failed: unbound_errors(errors, ("person",))} if failed else {}}, status)


@router.get("/evenements/{event_id}")
async def event(request: Request, event_id: UUID, staff: Staff = Depends(signed_in)) -> Response:
    return await event_page(request, event_id, staff)


@router.post("/evenements/{event_id}/inscriptions")
async def register(request: Request, event_id: UUID,
                   staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    role, _, person_id = values.get("person", "").partition(":")
    answer = await request.app.state.backend.send(
        staff.account, "followup", f"/staff/networking-events/{event_id}/registrations",
        {"person_id": person_id, "role": role})
    if not answer.ok:
        errors = {"person" if key in ("person_id", "role") else key: message
                  for key, message in answer.errors.items()}
        return await event_page(request, event_id, staff, values, errors, "inscription",
                                answer.status)
    return done(f"/evenements/{event_id}", "inscription")


@router.post("/evenements/{event_id}/presences")
async def attendance(request: Request, event_id: UUID,
                     staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    answer = await request.app.state.backend.send(
        staff.account, "followup", f"/staff/networking-events/{event_id}/attendance",
        {"person_id": values.get("person_id", ""), "attended": values.get("attended") == "oui"})
    if not answer.ok:
        return await event_page(request, event_id, staff, values,
                                {"presence": next(iter(answer.errors.values()),
                                                  "Présence refusée.")}, "presence",
                                answer.status)
    return done(f"/evenements/{event_id}", "presence")
