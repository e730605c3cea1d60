"""Cohorts: open one, compute its proposals, confirm or decline them (one by one or all at
once), cancel one, pair by hand, launch. Every action is matching's API on behalf of the
signed-in person; refusals come back next to the field, successes after a redirect."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.backoffice.pages.forms import confirmation, confirmations, done, form_values, payload
from services.backoffice.pages.matching_shared import (
    DECLINE_REASONS,
    OVERRIDE_REASONS,
    TEMPLATE_GLOBALS,
    directory,
    regions_for,
)
from services.backoffice.session import Staff, require_actor, signed_in
from services.common.web import PageError, unbound_errors

router = APIRouter(dependencies=[Depends(signed_in)])

confirmations({
    "cohort_opened": "La cohorte est ouverte.",
    "proposals_computed": "Les propositions ont été calculées.",
    "proposal_confirmed": "La proposition est confirmée : le binôme est formé.",
    "proposal_declined": "La proposition est refusée : les deux personnes retournent au vivier.",
    "proposal_cancelled": "La proposition est annulée : les places sont de nouveau libres.",
    "all_confirmed": "Toutes les propositions en attente sont confirmées.",
    "all_declined": "Toutes les propositions en attente sont refusées.",
    "none_pending": "Aucune proposition en attente : rien n'a été changé.",
    "pair_formed": "Le binôme est formé à la main.",
    "cohort_launched": "La cohorte est lancée.",
})

OPEN_FIELDS = ("region", "starts_on", "target_pairs", "cut_off_on")
PAIR_FIELDS = ("mentee_id", "mentor_id", "reason")


def _backend(request: Request):
    return request.app.state.backend


def _path(cohort_id: str) -> str:
    return f"/cohortes/{cohort_id}"


# -- the list ----------------------------------------------------------------------------------


@router.get("/cohortes")
async def cohorts(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    return await _cohorts_page(request, staff)


async def _cohorts_page(request: Request, staff: Staff, values: dict | None = None,
                        errors: dict | None = None, status: int = 200) -> Response:
    listed = await _backend(request).get(staff.account, "matching", "/staff/cohorts")
    errors = errors or {}
    return request.app.state.pages.html(request, "cohorts/list.html", {
        "title": "Cohortes", "cohorts": sorted(listed, key=lambda c: c["starts_on"],
                                               reverse=True),
        "regions": [(r, r) for r in regions_for(request, staff)],
        "values": values or {}, "errors": errors,
        "general": unbound_errors(errors, OPEN_FIELDS), "flash": confirmation(request),
    }, status_code=status)


@router.post("/cohortes")
async def open_cohort(request: Request, staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    if staff.account.region:
        values["region"] = staff.account.region
    answer = await _backend(request).send(staff.account, "matching", "/staff/cohorts",
                                          payload(values, *OPEN_FIELDS, integers=["target_pairs"]))
    if not answer.ok:
        return await _cohorts_page(request, staff, values, answer.errors, answer.status)
    return done(_path(answer.body["cohort_id"]), "cohort_opened")


# -- one cohort ----------------------------------------------------------------------------------


async def _cohort(request: Request, staff: Staff, cohort_id: str) -> tuple[dict, list[dict]]:
    """The cohort and its proposals (the proposals first: matching checks the region)."""
    proposals = await _backend(request).get(staff.account, "matching",
                                            f"/staff/cohorts/{cohort_id}/proposals")
    listed = await _backend(request).get(staff.account, "matching", "/staff/cohorts")
    cohort = next((c for c in listed if c["cohort_id"] == cohort_id), None)
    if cohort is None:
        raise PageError(404, "Cohorte introuvable", f"La cohorte {cohort_id} n'est pas ouverte "
                        "(ou n'est pas de votre région).")
    return cohort, proposals


@router.get("/cohortes/{cohort_id}")
async def cohort(cohort_id: str, request: Request, staff: Staff = Depends(signed_in)) -> Response:
    return await _cohort_page(request, staff, cohort_id)


async def _cohort_page(request: Request, staff: Staff, cohort_id: str, *,
                       values: dict | None = None, errors: dict | None = None,
                       row_errors: dict[str, str] | None = None,
                       failures: list[str] | None = None, succeeded: int = 0,
                       status: int = 200) -> Response:
    cohort, proposals = await _cohort(request, staff, cohort_id)
    region = cohort["region"]
    pool = await _backend(request).get(staff.account, "matching", "/staff/pool", region=region)
    people = await directory(request, staff, region, [
        *_people_of(p for p in proposals if p["status"] == "proposed"),
        *(m["person_id"] for m in [*pool["mentees"], *pool["mentors"]]),
        *_people_of(proposals)])
    errors = errors or {}
    by_status: dict[str, list[dict]] = {}
    for proposal in proposals:
        by_status.setdefault(proposal["status"], []).append(proposal)
    left_out = [(m, "mentee") for m in pool["mentees"] if m.get("waiting_reason")] + [
        (m, "mentor") for m in pool["mentors"] if m.get("waiting_reason")]
    return request.app.state.pages.html(request, "cohorts/detail.html", {
        **TEMPLATE_GLOBALS,
        "title": f"Cohorte {cohort_id}", "cohort": cohort, "proposals": proposals,
        "pending": by_status.get("proposed", []), "confirmed": by_status.get("confirmed", []),
        "withdrawn_at_launch": [p for p in proposals
                                if p.get("closed_reason") == "cohort_launched"],
        "pool": pool, "left_out": left_out, "person": people.person,
        "decline_reasons": DECLINE_REASONS, "override_reasons": OVERRIDE_REASONS,
        "mentee_options": [(m["person_id"], people.person(m["person_id"], "mentee",
                                                          m["departement"]).label)
                           for m in pool["mentees"]],
        "mentor_options": [(m["person_id"], people.person(m["person_id"], "mentor",
                                                          m["departement"]).label
                            + f" — {m['free_places']} place(s) libre(s)")
                           for m in pool["mentors"]],
        "values": {"min_score": "0,35", **(values or {})}, "errors": errors,
        "general": unbound_errors(errors, ("min_score", "decline_reason", *PAIR_FIELDS)),
        "row_errors": row_errors or {}, "failures": failures or [], "succeeded": succeeded,
        "flash": confirmation(request),
    }, status_code=status)


def _people_of(proposals) -> list[str]:
    return [p[role] for p in proposals for role in ("mentee_id", "mentor_id")]


def _score(text: str) -> Any:
    """« 0,35 » or « 0.35 » as a number; anything else goes as it is (the service says why)."""
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text


@router.post("/cohortes/{cohort_id}/calcul")
async def compute(cohort_id: str, request: Request, staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    body = {"min_score": _score(values["min_score"])} if values.get("min_score") else {}
    answer = await _backend(request).send(staff.account, "matching",
                                          f"/staff/cohorts/{cohort_id}/proposals", body)
    if not answer.ok:
        return await _cohort_page(request, staff, cohort_id, values=values,
                                  errors=answer.errors, status=answer.status)
    return done(_path(cohort_id), "proposals_computed")


async def _on_proposal(request: Request, staff: Staff, cohort_id: str, match_id: UUID,
                       action: str, body: dict | None, code: str) -> Response:
    answer = await _backend(request).send(staff.account, "matching",
                                          f"/staff/proposals/{match_id}/{action}", body)
    if not answer.ok:
        message = " ".join(answer.errors.values()) or "La demande a été refusée."
        return await _cohort_page(request, staff, cohort_id,
                                  row_errors={str(match_id): message}, status=answer.status)
    return done(_path(cohort_id), code)


@router.post("/cohortes/{cohort_id}/propositions/{match_id}/confirmation")
async def confirm(cohort_id: str, match_id: UUID, request: Request,
                  staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    return await _on_proposal(request, staff, cohort_id, match_id, "confirm", None,
                              "proposal_confirmed")


@router.post("/cohortes/{cohort_id}/propositions/{match_id}/refus")
async def decline(cohort_id: str, match_id: UUID, request: Request,
                  staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    return await _on_proposal(request, staff, cohort_id, match_id, "decline",
                              payload(values, "reason"), "proposal_declined")


@router.post("/cohortes/{cohort_id}/propositions/{match_id}/annulation")
async def cancel(cohort_id: str, match_id: UUID, request: Request,
                 staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    return await _on_proposal(request, staff, cohort_id, match_id, "cancel", None,
                              "proposal_cancelled")


async def _for_each_pending(request: Request, staff: Staff, cohort_id: str, action: str,
                            body: dict | None) -> tuple[int, dict[str, str], list[dict]]:
    """One call per pending proposal; returns (done, {match_id: French refusal}, pending)."""
    _, proposals = await _cohort(request, staff, cohort_id)
    pending = [p for p in proposals if p["status"] == "proposed"]
    refused: dict[str, str] = {}
    for proposal in pending:
        answer = await _backend(request).send(
            staff.account, "matching", f"/staff/proposals/{proposal['match_id']}/{action}", body)
        if not answer.ok:
            refused[str(proposal["match_id"])] = (" ".join(answer.errors.values())
                                                  or "La demande a été refusée.")
    return len(pending) - len(refused), refused, pending


async def _after_all(request: Request, staff: Staff, cohort_id: str, succeeded: int,
                     refused: dict[str, str], pending: list[dict], code: str) -> Response:
    if not pending:
        return done(_path(cohort_id), "none_pending")
    if not refused:
        return done(_path(cohort_id), code)
    people = await directory(request, staff, cohort_id[:3], _people_of(pending))
    failures = [f"{people.person(p['mentee_id'], 'mentee').label} et "
                f"{people.person(p['mentor_id'], 'mentor').label} : {refused[str(p['match_id'])]}"
                for p in pending if str(p["match_id"]) in refused]
    return await _cohort_page(request, staff, cohort_id, row_errors=refused, failures=failures,
                              succeeded=succeeded, status=409)


@router.post("/cohortes/{cohort_id}/tout-confirmer")
async def confirm_all(cohort_id: str, request: Request,
                      staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    succeeded, refused, pending = await _for_each_pending(request, staff, cohort_id, "confirm",
                                                          None)
    return await _after_all(request, staff, cohort_id, succeeded, refused, pending,
                            "all_confirmed")


@router.post("/cohortes/{cohort_id}/tout-refuser")
async def decline_all(cohort_id: str, request: Request,
                      staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    if not values.get("decline_reason"):
        return await _cohort_page(request, staff, cohort_id, values=values, errors={
            "decline_reason": "Choisissez le motif du refus."}, status=422)
    succeeded, refused, pending = await _for_each_pending(
        request, staff, cohort_id, "decline", {"reason": values["decline_reason"]})
    return await _after_all(request, staff, cohort_id, succeeded, refused, pending,
                            "all_declined")


@router.post("/cohortes/{cohort_id}/binomes")
async def pair_by_hand(cohort_id: str, request: Request,
                       staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    values = await form_values(request)
    answer = await _backend(request).send(staff.account, "matching",
                                          f"/staff/cohorts/{cohort_id}/pairs",
                                          payload(values, *PAIR_FIELDS))
    if not answer.ok:
        return await _cohort_page(request, staff, cohort_id, values=values,
                                  errors=answer.errors, status=answer.status)
    return done(_path(cohort_id), "pair_formed")


# -- launch, with a confirmation step ----------------------------------------------------------


@router.get("/cohortes/{cohort_id}/lancement")
async def launch_page(cohort_id: str, request: Request,
                      staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    return await _launch_page(request, staff, cohort_id)


async def _launch_page(request: Request, staff: Staff, cohort_id: str,
                       errors: dict | None = None, status: int = 200) -> Response:
    cohort, proposals = await _cohort(request, staff, cohort_id)
    pending = [p for p in proposals if p["status"] == "proposed"]
    people = await directory(request, staff, cohort["region"], _people_of(pending))
    errors = errors or {}
    return request.app.state.pages.html(request, "cohorts/launch.html", {
        **TEMPLATE_GLOBALS, "title": f"Lancer la cohorte {cohort_id}", "cohort": cohort,
        "pending": pending, "pairs": sum(1 for p in proposals if p["status"] == "confirmed"),
        "person": people.person, "general": list(errors.values()),
    }, status_code=status)


@router.post("/cohortes/{cohort_id}/lancement")
async def launch(cohort_id: str, request: Request, staff: Staff = Depends(signed_in)) -> Response:
    require_actor(staff)
    answer = await _backend(request).send(staff.account, "matching",
                                          f"/staff/cohorts/{cohort_id}/launch")
    if not answer.ok:
        return await _launch_page(request, staff, cohort_id, answer.errors, answer.status)
    return done(_path(cohort_id), "cohort_launched")
