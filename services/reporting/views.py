"""Read models as pure folds: ``apply(view, event) -> view``. No I/O here.

The cohort funnel counts, per (region, cohort, recruitment channel), how far applications
went. The cohort of an application is the first quarterly cohort starting after the day it was
received (cohorts start in March, June, September and December).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import singledispatch
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events import Envelope
from events.intake import (
    ApplicationReceived,
    ApplicationRejected,
    ApplicationWithdrawn,
    CandidateAdmitted,
    CandidateDeclined,
    PersonErased,
)
from events.matching import PairEnded, PairFormed
from events.vocabulary import Role, cohort_for

class FunnelRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    region: str
    cohort: str
    channel: str
    applications_mentees: int = 0
    applications_mentors: int = 0
    rejected: int = 0
    rejection_reasons: dict[str, int] = Field(default_factory=dict)
    admitted: int = 0
    declined: int = 0
    withdrawn: int = 0
    paired: int = 0
    completed: int = 0
    ended_early: int = 0

    @property
    def key(self) -> str:
        return f"{self.region}|{self.cohort}|{self.channel}"

    def add(self, **counts: int) -> FunnelRow:
        return self.model_copy(update={k: getattr(self, k) + v for k, v in counts.items()})


class CohortFunnel(BaseModel):
    """The funnel rows, and where each person's application is counted (to attribute later
    events). The person index holds only pseudonymous ids; erasure drops the entry."""

    model_config = ConfigDict(frozen=True)

    rows: dict[str, FunnelRow] = Field(default_factory=dict)
    people: dict[str, str] = Field(default_factory=dict)  # person_id -> row key

    def row_of(self, person_id: Any) -> FunnelRow | None:
        key = self.people.get(str(person_id))
        return self.rows.get(key) if key else None

    def with_row(self, row: FunnelRow, person_id: Any | None = None) -> CohortFunnel:
        people = self.people if person_id is None else {**self.people, str(person_id): row.key}
        return CohortFunnel(rows={**self.rows, row.key: row}, people=people)


def apply(view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    return _apply(envelope.data, view, envelope)


def fold(envelopes: Iterable[Envelope], view: CohortFunnel | None = None) -> CohortFunnel:
    view = view or CohortFunnel()
    for envelope in envelopes:
        view = apply(view, envelope)
    return view


@singledispatch
def _apply(data: Any, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    return view  # events this view does not count


@_apply.register
def _(data: ApplicationReceived, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    key_row = FunnelRow(region=envelope.region, cohort=cohort_for(envelope.occurred_at.date()),
                        channel=data.channel.value)
    row = view.rows.get(key_row.key, key_row)
    field = "applications_mentees" if data.role is Role.mentee else "applications_mentors"
    return view.with_row(row.add(**{field: 1}), data.person_id)


def _count(view: CohortFunnel, person_id: Any, **counts: int) -> CohortFunnel:
    row = view.row_of(person_id)
    return view if row is None else view.with_row(row.add(**counts))


@_apply.register
def _(data: ApplicationRejected, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    row = view.row_of(data.person_id)
    if row is None:
        return view
    reasons = dict(row.rejection_reasons)
    for reason in data.reasons:
        reasons[reason.value] = reasons.get(reason.value, 0) + 1
    return view.with_row(row.add(rejected=1).model_copy(update={"rejection_reasons": reasons}))


@_apply.register
def _(data: CandidateAdmitted, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    return _count(view, data.person_id, admitted=1)


@_apply.register
def _(data: CandidateDeclined, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    return _count(view, data.person_id, declined=1)


@_apply.register
def _(data: ApplicationWithdrawn, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    return _count(view, data.person_id, withdrawn=1)


@_apply.register
def _(data: PairFormed, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    return _count(view, data.mentee_id, paired=1)


@_apply.register
def _(data: PairEnded, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    if data.early:
        return _count(view, data.mentee_id, ended_early=1)
    return _count(view, data.mentee_id, completed=1)


@_apply.register
def _(data: PersonErased, view: CohortFunnel, envelope: Envelope) -> CohortFunnel:
    people = {k: v for k, v in view.people.items() if k != str(data.person_id)}
    return CohortFunnel(rows=view.rows, people=people)


def funnel_rows(view: CohortFunnel, region: str | None = None,
                cohort: str | None = None) -> list[FunnelRow]:
    rows = [r for r in view.rows.values()
            if (region is None or r.region == region) and (cohort is None or r.cohort == cohort)]
    return sorted(rows, key=lambda r: (r.region, r.cohort, r.channel))
