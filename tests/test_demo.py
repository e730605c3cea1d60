"""The demo seeder drives the real services' APIs over a scripted calendar."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import text

from services.common.store import EventStore
from services.demo import seed
from services.intake.vault import generate_master_key
from tests.intake_client import AUTH_SECRET


async def test_the_demo_seeds_a_programme_through_the_apis(settings, mailbox):
    settings = settings.model_copy(update={
        **mailbox.settings_update(), "auth_secret": AUTH_SECRET,
        "vault_master_key": generate_master_key()})
    stats = await seed(settings, today=date(2026, 1, 20))
    assert stats["pairs"] >= 20 and stats["admitted"] > stats["pairs"]
    assert stats["applications_rejected"] >= 1 and stats["applications_waiting_list"] >= 1
    counts = {}
    for schema in ("intake", "matching", "followup"):
        store = EventStore.connect(settings.database_url, schema)
        async with store.engine.connect() as conn:
            counts |= dict((await conn.execute(text(
                f"SELECT type, count(*) FROM {schema}.events GROUP BY type"))).all())
            if schema == "matching":
                await assert_journeys_follow_the_rules(conn)
        await store.dispose()
    for expected in ("ApplicationReceived", "CandidateAdmitted", "PairFormed", "CohortLaunched",
                     "FollowUpPlanned", "SessionLogged", "ReminderSent",
                     "NetworkingEventScheduled", "AttendanceRecorded",
                     "QuestionnaireAnswered"):  # so early: the start of programme ones
        assert counts.get(expected), expected
    assert any("démarre" in m["Subject"] for m in mailbox.messages)


async def assert_journeys_follow_the_rules(conn) -> dict[str, int]:
    """Pairs formed = distinct mentees + rematches after early endings (at most), and nobody
    is paired after leaving the pool (completion or a leaving early-ending reason)."""
    pairs: Counter[str] = Counter()
    rematches: Counter[str] = Counter()
    left: set[str] = set()
    for kind, data in await conn.execute(text(
            "SELECT type, data FROM matching.events WHERE type IN ('PairFormed', "
            "'RematchRequested', 'CandidateLeftPool') ORDER BY position")):
        if kind == "PairFormed":
            assert data["mentee_id"] not in left, "paired after leaving the pool"
            pairs[data["mentee_id"]] += 1
        elif kind == "RematchRequested":
            rematches[data["person_id"]] += 1
        else:
            left.add(data["person_id"])
    assert all(n <= 1 + rematches[mentee] for mentee, n in pairs.items())
    return {"pairs": sum(pairs.values()), "mentees": len(pairs),
            "rematches": sum(rematches.values()), "left": len(left)}
