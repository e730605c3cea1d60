"""A cohort followed through 18 months of clock time by the API and the timers alone: plans,
reminders by e-mail (real SMTP server), reviews due, overdue and completed, early endings
(matching rematches), completion, outcomes at the end and six months after."""

from __future__ import annotations

from collections import Counter
from datetime import date


from services.common.clock import ManualClock
from tests.conftest import eventually
from tests.followup_client import (
    BRE,
    REFERENT,
    REFERENT_EMAIL,
    followed,
    followup_events,
    form_pairs,
    move_to,
    scalar,
    types,
)
from tests.intake_client import TODAY, token

MENTEE_ANSWERS = {"ess_knowledge": 4, "career_clarity": 5, "self_confidence": 4,
                  "professional_network": 3, "job_search_skills": 4, "satisfaction": 5,
                  "would_recommend": 5}
MENTOR_ANSWERS = {"mentor_satisfaction": 5, "would_recommend": 4}


def mail_kinds(mailbox) -> Counter:
    return Counter(m["Subject"].split(" : ", 1)[1].split(" (")[0] for m in mailbox.messages)


async def test_a_cohort_through_eighteen_months(settings, mailbox):
    clock = ManualClock(TODAY)
    async with followed(settings, mailbox, clock) as svc:
        follow, f_runtime = svc["followup"]
        matching, m_runtime = svc["matching"]
        completed, ended_early, ended_in_matching = await form_pairs(svc, 3)
        assert {j["starts_on"] for j in (completed, ended_early)} == {"2026-03-01"}
        assert completed["reviews"]["intermediate"] == {
            "due_on": "2026-09-01", "status": "upcoming", "scheduled_at": None, "held": None,
            "assessment": None, "days_late": None}
        assert completed["referent_id"] == REFERENT  # who confirmed the pair follows it

        # Kick-off: each mentee and mentor is written to, at the address in the vault.
        await move_to(svc, clock, date(2026, 3, 1))
        assert mail_kinds(mailbox) == {"votre binôme démarre": 6}
        assert all("@example.org" in m["To"] for m in mailbox.messages)

        # Matching ends one pair on its own: followup closes that journey, its timers stop.
        ended = await matching.post(f"/staff/pairs/{ended_in_matching['pair_id']}/end",
                                    headers=BRE, json={"reason": "moved_away", "ended_by": "mentee",
                                                       "ended_on": "2026-03-01"})
        assert ended.status_code == 200, ended.text

        async def closed() -> bool:
            pair = (await follow.get(f"/staff/pairs/{ended_in_matching['pair_id']}",
                                     headers=BRE)).json()
            return pair["status"] == "ended" and pair["ended_early"] is True

        await eventually(closed)

        # Sessions, declared by the referent and by the mentor with their own token.
        for pair, who in ((completed, BRE),
                          (ended_early, token("mentor", "BRE", ended_early["mentor_id"]))):
            logged = await follow.post(f"/staff/pairs/{pair['pair_id']}/sessions", headers=who,
                                       json={"held_on": "2026-03-01", "duration_minutes": 90,
                                             "format": "in_person", "theme": "getting_to_know",
                                             "used_toolkit": True})
            assert logged.status_code == 201, logged.text

        # Two weeks before month 6: the referent is asked to book the intermediate reviews.
        # (The summer questionnaire went out on 15 June meanwhile: 3 pairs and their referent.)
        await move_to(svc, clock, date(2026, 8, 18))
        to_referent = Counter(m["Subject"].split(" (")[0] for m in mailbox.to(REFERENT_EMAIL))
        assert to_referent == {"Succ'ess : bilan intermédiaire à planifier": 2,
                               "Succ'ess : le bilan annuel du programme": 1}
        assert mail_kinds(mailbox)["le bilan annuel du programme"] == 3 + 3 + 1
        # Month 6: due (events + e-mails). The first pair's review is then held.
        await move_to(svc, clock, date(2026, 9, 1))
        assert types(await followup_events(svc, completed["pair_id"]))["ReviewDue"] == 1
        await move_to(svc, clock, date(2026, 9, 3))
        held = await follow.post(f"/staff/pairs/{completed['pair_id']}/reviews/intermediate",
                                 headers=BRE, json={
                                     "held": True, "held_on": "2026-09-03",
                                     "assessment": "on_track",
                                     "ratings": {"relationship_quality": 5},
                                     "concerns": []})
        assert held.status_code == 201, held.text
        # After the grace period only the other one is overdue.
        await move_to(svc, clock, date(2026, 10, 1))
        assert "ReviewOverdue" not in types(await followup_events(svc, completed["pair_id"]))
        assert types(await followup_events(svc, ended_early["pair_id"]))["ReviewOverdue"] == 1

        # Month 8: the mentee of the late pair found a job; matching ends the pair and the
        # mentee leaves the pool for good (no rematch).
        stop = await follow.post(f"/staff/pairs/{ended_early['pair_id']}/end", headers=BRE,
                                 json={"reason": "mentee_found_job", "ended_by": "mentee"})
        assert stop.status_code == 200, stop.text

        async def left_the_pool(reason: str) -> bool:
            return await scalar(m_runtime, "SELECT count(*) FROM matching.events WHERE type = "
                                "'CandidateLeftPool' AND data->>'reason' = :r", r=reason) == 1

        await eventually(lambda: left_the_pool("found_job"))
        assert await scalar(m_runtime, "SELECT count(*) FROM matching.events WHERE type = "
                            "'RematchRequested'") == 1  # only the one who moved away

        # Month 12: the final review, with the end-of-programme questionnaire, completes it.
        await move_to(svc, clock, date(2027, 3, 1))
        final = await follow.post(f"/staff/pairs/{completed['pair_id']}/reviews/final",
                                  headers=BRE, json={
                                      "held": True, "held_on": "2027-03-01",
                                      "assessment": "on_track",
                                      "questionnaires": [
                                          {"respondent": "mentee", "answers": MENTEE_ANSWERS},
                                          {"respondent": "mentor", "answers": MENTOR_ANSWERS}]})
        assert final.status_code == 201, final.text
        assert final.json()["events"] == ["ReviewCompleted", "QuestionnaireAnswered",
                                          "QuestionnaireAnswered", "FollowUpEnded"]

        async def completed_in_matching() -> bool:
            return await scalar(m_runtime, "SELECT count(*) FROM matching.events WHERE type = "
                                "'PairEnded' AND (data->>'early')::boolean = false") == 1

        await eventually(completed_in_matching)
        await eventually(lambda: left_the_pool("completed"))  # never proposed again
        outcome = await follow.post(f"/staff/pairs/{completed['pair_id']}/outcomes",
                                    headers=BRE, json={"moment": "end", "situation":
                                                       "job_seeking", "satisfaction": 4})
        assert outcome.status_code == 201, outcome.text

        # Six months after the end: the mentee is asked how things are, then answers.
        before = len(mailbox.messages)
        await move_to(svc, clock, date(2027, 9, 1))
        asked = [m for m in mailbox.messages[before:] if "six mois" in m["Subject"]]
        assert len(asked) == 2  # the completed pair's mentee, and the one who stopped early
        later = await follow.post(f"/staff/pairs/{completed['pair_id']}/outcomes", headers=BRE,
                                  json={"moment": "six_months_after",
                                        "situation": "job_or_training_in_ess",
                                        "satisfaction": 5})
        assert later.status_code == 201, later.text

        # Every step, for every pair, as events; every e-mail sent once.
        assert types(await followup_events(svc, completed["pair_id"])) == {
            "FollowUpPlanned": 1, "SessionLogged": 1, "ReviewDue": 2, "ReviewCompleted": 2,
            "QuestionnaireAnswered": 2, "FollowUpEnded": 1, "OutcomeRecorded": 2,
            # kick-off ×2, each review upcoming and due, six months after, and sessions to
            # declare each month from April to February (both filled in the end questionnaire
            # at the final review: no e-mail asks for it)
            "ReminderSent": 2 + 2 + 2 + 1 + 11}
        assert types(await followup_events(svc, ended_early["pair_id"])) == {
            "FollowUpPlanned": 1, "SessionLogged": 1, "ReviewDue": 1, "ReviewOverdue": 1,
            "FollowUpEnded": 1, "ReminderSent": 2 + 3 + 1 + 7}  # sessions: April to October
        assert types(await followup_events(svc, ended_in_matching["pair_id"])) == {
            "FollowUpPlanned": 1, "FollowUpEnded": 1, "ReminderSent": 2 + 1}
        sent = [e for e in await followup_events(svc) if e.type == "ReminderSent"]
        assert len(sent) == len(mailbox.messages)
        assert len({m["Message-ID"] for m in mailbox.messages}) == len(mailbox.messages)
        assert await scalar(f_runtime, "SELECT count(*) FROM followup.mails WHERE sent_at IS "
                            "NULL AND skipped IS NULL") == 0
