"""A re-routed application over HTTP, through intake, matching and reporting on the real
stack: applied in Île-de-France, re-routed to Bretagne, interviewed, admitted and paired there.
Bretagne's reports count the person; Île-de-France's show only the move — now, replayed and as
of an instant — and the person is in Bretagne's daily digest, not Île-de-France's."""

from __future__ import annotations

import asyncpg

from services.common.store import raw_database_url
from services.reporting.digest import load_applications
from services.reporting.projections import replay
from tests.conftest import eventually
from tests.intake_client import TODAY, token
from tests.services_client import running
from tests.test_intake_api import person
from tests.test_matching_api import admit, mentor, pool_size

IDF_REFERENT = token("referent", "IDF", "ref-idf-1")
BRE_REFERENT = token("referent", "BRE", "ref-bre-1")
NATIONAL = token("analyst", None, "ana-1")
COUNTERS = ("applications_mentees", "routed", "rerouted_out", "rerouted_in", "interviewed",
            "admitted", "waiting", "proposed", "paired", "active")


def counted(report: dict) -> dict[tuple[str, str, str], dict[str, int]]:
    return {(r["region"], r["cohort"], r["channel"]): {c: r[c] for c in COUNTERS if r[c]}
            for r in report["rows"]}


async def test_a_re_routed_application_is_counted_where_it_is_handled(settings):
    async with running(settings, "intake", "matching", "reporting") as svc:
        intake, _ = svc["intake"]
        matching, m_runtime = svc["matching"]
        reports, _ = svc["reporting"]

        applied = await intake.post("/applications/mentee", json=person(
            postcode="93200", channel="mission_locale", sector_interests=["culture"],
            remote_ok=True))  # so that a Breton mentor may be proposed
        assert applied.status_code == 201, applied.text
        assert applied.json()["region"] == "IDF"
        application_id = applied.json()["application_id"]
        moved = await intake.post(f"/staff/applications/{application_id}/reroute",
                                  headers=IDF_REFERENT,
                                  json={"to_region": "BRE", "reason": "closer_to_home"})
        assert moved.status_code == 200, moved.text
        detail = (await intake.get(f"/staff/applications/{application_id}",
                                   headers=BRE_REFERENT)).json()
        booked = await intake.post(f"/staff/applications/{application_id}/interviews",
                                   headers=BRE_REFERENT,  # at once: an opinion cannot precede it
                                   json={"scheduled_at": detail["application"]["submitted_at"]})
        assert booked.status_code == 201, booked.text
        await intake.post(f"/staff/applications/{application_id}/interviews/"
                          f"{booked.json()['interview_id']}/outcome", headers=BRE_REFERENT,
                          json={"outcome": "favourable"})
        admitted = await intake.post(f"/staff/applications/{application_id}/admit",
                                     headers=BRE_REFERENT)
        assert admitted.status_code == 200, admitted.text
        mentee_id = admitted.json()["person_id"]
        await admit(intake, mentor(sector_expertise=["culture"], capacity=1, remote_ok=True),
                    "/applications/mentor")
        await eventually(lambda: _at_least(pool_size(m_runtime), 2))
        cohort_id = (await matching.post("/staff/cohorts", headers=BRE_REFERENT,
                                         json={"region": "BRE", "target_pairs": 1})
                     ).json()["cohort_id"]
        run = await matching.post(f"/staff/cohorts/{cohort_id}/proposals", headers=BRE_REFERENT)
        assert len(run.json()["proposals"]) == 1, run.text
        [proposal] = run.json()["proposals"]
        confirmed = await matching.post(f"/staff/proposals/{proposal['match_id']}/confirm",
                                        headers=BRE_REFERENT)
        assert confirmed.status_code == 200, confirmed.text

        async def paired() -> bool:
            answer = await reports.get("/reports/cohorts", headers=NATIONAL)
            return answer.json()["totals"]["paired"] == 1

        await eventually(paired)
        now = (await reports.get("/reports/cohorts", headers=NATIONAL)).json()
        assert counted(now) == {
            ("IDF", "2026-03", "mission_locale"): {"rerouted_out": 1},
            ("BRE", "2026-03", "mission_locale"): {
                "applications_mentees": 1, "routed": 1, "rerouted_in": 1, "interviewed": 1,
                "admitted": 1, "paired": 1, "active": 1},
            ("BRE", "2026-03", "recruitment_webinar"): {  # the mentor
                "routed": 1, "interviewed": 1, "admitted": 1}}
        as_of = (await reports.get("/reports/cohorts", headers=NATIONAL,
                                   params={"as_of": TODAY.isoformat()})).json()
        assert counted(as_of) == counted(now)
        idf = (await reports.get("/reports/cohorts", headers=IDF_REFERENT)).json()
        assert idf["totals"]["applications_mentees"] == 0 and idf["totals"]["paired"] == 0
        assert idf["totals"]["rerouted_out"] == 1
        channels = (await reports.get("/reports/channels", headers=NATIONAL)).json()["rows"]
        mentees = {r["region"]: (r["applications"], r["admitted"], r["paired"])
                   for r in channels if r["role"] == "mentee"}
        assert mentees == {"BRE": (1, 1, 1)}

        conn = await asyncpg.connect(raw_database_url(settings.database_url))
        try:
            result = await replay(conn)
            assert result.equal, result.differences
            day = TODAY.date()
            assert await load_applications(conn, "IDF", day) == []
            [in_bretagne] = [a for a in await load_applications(conn, "BRE", day)
                             if a["role"] == "mentee"]
            assert (in_bretagne["person_id"], in_bretagne["status"]) == (mentee_id, "active")
        finally:
            await conn.close()


async def _at_least(value, n: int) -> bool:
    return (await value) >= n
