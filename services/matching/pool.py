"""The pool, fed by intake's events: admitted candidates enter it; withdrawals, declines and
erasures take them out, and withdraw their pending proposals (``ProposalWithdrawn``, which
frees the other person's place). Correct in any arrival order: a departure that comes first
leaves a tombstone, so the later admission does not bring the person back."""

from __future__ import annotations

from sqlalchemy import text

from events import Envelope, Metadata
from events.intake import ApplicationWithdrawn, CandidateAdmitted, CandidateDeclined, PersonErased
from services.common.store import Transaction
from services.matching import domain
from services.matching.workflow import stream_version, load_programme, pool_stream, record

_DEPARTURES = (ApplicationWithdrawn, CandidateDeclined, PersonErased)

_LEAVE = (
    "INSERT INTO matching.pool (person_id, left_reason) VALUES (:person, :reason) "
    "ON CONFLICT (person_id) DO UPDATE SET left_reason = EXCLUDED.left_reason"
)


async def on_intake_event(envelope: Envelope, tx: Transaction) -> None:
    data = envelope.data
    conn = tx.connection
    if isinstance(data, _DEPARTURES):
        await _withdraw_proposals_of(envelope, tx)
    if isinstance(data, CandidateAdmitted):
        await conn.execute(text(
            "INSERT INTO matching.pool (person_id, role, region, departement, sectors, "
            "availability, aspirations, remote_ok, job_family, capacity, admitted_at) VALUES "
            "(:person, :role, :region, :dep, :sectors, :availability, :aspirations, :remote, "
            ":job, :capacity, :at) ON CONFLICT (person_id) DO UPDATE SET role = EXCLUDED.role, "
            "region = EXCLUDED.region, departement = EXCLUDED.departement, sectors = "
            "EXCLUDED.sectors, availability = EXCLUDED.availability, aspirations = "
            "EXCLUDED.aspirations, remote_ok = EXCLUDED.remote_ok, job_family = "
            "EXCLUDED.job_family, capacity = EXCLUDED.capacity, admitted_at = "
            "EXCLUDED.admitted_at"),  # a tombstone keeps its left_reason: still out
            {"person": data.person_id, "role": data.role.value, "region": envelope.region,
             "dep": data.departement, "sectors": [s.value for s in data.sector_interests],
             "availability": [a.value for a in data.availability],
             "aspirations": [a.value for a in data.aspirations], "remote": data.remote_ok,
             "job": data.job_family.value if data.job_family else None,
             "capacity": data.capacity, "at": envelope.occurred_at})
    elif isinstance(data, ApplicationWithdrawn):
        await conn.execute(text(_LEAVE), {"person": data.person_id, "reason": "withdrawn"})
    elif isinstance(data, CandidateDeclined):
        await conn.execute(text(_LEAVE), {"person": data.person_id, "reason": "declined"})
    elif isinstance(data, PersonErased):
        await conn.execute(text(
            "INSERT INTO matching.pool (person_id, left_reason) VALUES (:person, 'erased') "
            "ON CONFLICT (person_id) DO UPDATE SET left_reason = 'erased', departement = NULL, "
            "sectors = NULL, availability = NULL, aspirations = NULL, job_family = NULL"),
            {"person": data.person_id})


async def _withdraw_proposals_of(envelope: Envelope, tx: Transaction) -> None:
    """Before the person leaves the projection: their pending proposals are withdrawn (the
    append comes first in the transaction, as the store requires)."""
    person_id = envelope.data.person_id
    region = (await tx.connection.execute(text(
        "SELECT region FROM matching.proposals WHERE status = 'proposed' AND "
        ":p IN (mentee_id, mentor_id) LIMIT 1"), {"p": person_id})).scalar()
    if region is None:
        return
    stream = pool_stream(region)
    version = await stream_version(tx.connection, stream)
    state = domain.evolve(envelope.data, await load_programme(tx.connection, region))
    await record(tx, stream, version, domain.on_departure(state, person_id), state, Metadata(
        region=region, actor="system", correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id))
