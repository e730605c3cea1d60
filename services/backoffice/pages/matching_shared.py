"""What the cohort and pool pages share: French labels of matching's codes, and how people
are shown.

Matching works with pseudonymous person ids. A page shows each person by role, département
and a short pseudonym, with a link to their application (one call to intake's list per page);
referents and admins also see the names, read from intake's vault (one call per person shown,
a few at a time, at most :data:`NAMES_AT_MOST` per page), analysts never.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from events.vocabulary import (
    MATCH_DECLINE_REASON_LABELS,
    MATCH_ORIGIN_LABELS,
    OVERRIDE_REASON_LABELS,
    POOL_EXIT_REASON_LABELS,
    PROPOSAL_WITHDRAWAL_REASON_LABELS,
    Role,
)
from services.backoffice.session import Staff
from services.common.web import PageError
from services.matching.assignment import MENTEE_REASONS, MENTOR_REASONS
from services.matching.domain import AFTER_CUT_OFF, AFTER_CUT_OFF_MESSAGES

PROPOSAL_STATUS_LABELS = {"proposed": "En attente", "confirmed": "Confirmée",
                          "declined": "Refusée", "withdrawn": "Retirée"}

SCORE_PARTS = [("geography", "Géographie"), ("sectors", "Secteurs"),
               ("aspirations", "Aspirations"), ("availability", "Disponibilités")]

DECLINE_REASONS = [(k.value, v) for k, v in MATCH_DECLINE_REASON_LABELS.items()]
OVERRIDE_REASONS = [(k.value, v) for k, v in OVERRIDE_REASON_LABELS.items()]

_CLOSING_REASONS = {**{k.value: v for k, v in MATCH_DECLINE_REASON_LABELS.items()},
                    **{k.value: v for k, v in PROPOSAL_WITHDRAWAL_REASON_LABELS.items()},
                    **{k.value: v for k, v in POOL_EXIT_REASON_LABELS.items()}}

NAMES_AT_MOST = 100  # beyond, the page would wait too long: pseudonyms only
_NAME_CALLS_AT_ONCE = 8

_WAITING_REASONS = {
    Role.mentee.value: {**MENTEE_REASONS, AFTER_CUT_OFF: AFTER_CUT_OFF_MESSAGES[Role.mentee]},
    Role.mentor.value: {**MENTOR_REASONS, AFTER_CUT_OFF: AFTER_CUT_OFF_MESSAGES[Role.mentor]},
}


def closing_reason(code: str | None) -> str:
    return "" if not code else _CLOSING_REASONS.get(code, code)


def origin_label(code: str) -> str:
    return MATCH_ORIGIN_LABELS.get(code, code)  # type: ignore[call-overload]


def waiting_reason(role: str, code: str | None) -> str:
    """Why someone still waits, as the last computation of proposals said."""
    if not code:
        return "Pas encore examiné·e par un calcul de propositions."
    return _WAITING_REASONS.get(role, {}).get(code, code)


@dataclass(frozen=True)
class Person:
    person_id: str
    role: str
    departement: str
    application_id: str | None
    name: str | None = None

    @property
    def pseudonym(self) -> str:
        return self.person_id[:8]

    @property
    def label(self) -> str:
        """« Zoé Kerhervé — Mentoré·e a1b2c3d4 (75) » (no name for analysts)."""
        role = "Mentoré·e" if self.role == Role.mentee.value else "Mentor"
        where = f" ({self.departement})" if self.departement else ""
        known = f"{self.name} — " if self.name else ""
        return f"{known}{role} {self.pseudonym}{where}"


class Directory:
    """The people of one region as intake knows them (admitted applications)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.by_person = {row["person_id"]: row for row in rows}
        self.names: dict[str, str] = {}

    def person(self, person_id: str, role: str = "", departement: str = "") -> Person:
        row = self.by_person.get(str(person_id), {})
        return Person(str(person_id), row.get("role", role),
                      row.get("departement", departement) or departement,
                      row.get("application_id"), self.names.get(str(person_id)))

    async def add_names(self, request: Request, staff: Staff, shown: Iterable[str]) -> None:
        wanted = [p for p in dict.fromkeys(map(str, shown)) if p in self.by_person]
        gate = asyncio.Semaphore(_NAME_CALLS_AT_ONCE)

        async def name_of(person_id: str) -> None:
            path = f"/staff/applications/{self.by_person[person_id]['application_id']}"
            async with gate:
                try:
                    detail = await request.app.state.backend.get(staff.account, "intake", path)
                except PageError:  # erased meanwhile, or out of reach: the pseudonym will do
                    return
            identity = detail.get("identity") or {}
            name = " ".join(filter(None, (identity.get("first_name"),
                                          identity.get("last_name"))))
            if name:
                self.names[person_id] = name

        await asyncio.gather(*(name_of(p) for p in wanted[:NAMES_AT_MOST]))


async def directory(request: Request, staff: Staff, region: str,
                    shown: Iterable[str] = ()) -> Directory:
    """``shown``: the people the page lists, most important first (named for those who act)."""
    rows = await request.app.state.backend.get(staff.account, "intake", "/staff/applications",
                                               region=region, status="admitted", limit=1000)
    found = Directory(rows)
    if staff.acts:
        await found.add_names(request, staff, shown)
    return found


def regions_for(request: Request, staff: Staff) -> list[str]:
    """The regions a page may show: one's own, or every served region for national staff."""
    if staff.account.region:
        return [staff.account.region]
    return list(request.app.state.settings.served_region_codes())


def chosen_region(request: Request, staff: Staff, asked: str | None) -> str:
    """National staff choose; regional staff see their own region (asking for another one is
    left to the services, which answer 403)."""
    if asked:
        return asked.strip().upper()
    return regions_for(request, staff)[0]


TEMPLATE_GLOBALS = {"closing_reason": closing_reason, "origin_label": origin_label,
                    "waiting_reason": waiting_reason, "proposal_status": PROPOSAL_STATUS_LABELS,
                    "score_parts": SCORE_PARTS}
