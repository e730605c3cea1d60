"""`success up --demo`: seed a realistic programme through the services' real APIs and events.

Two regions (Île-de-France and Bretagne), a cohort every quarter since September 2025: a year
and more of applications (some refused, some from regions not taking part yet, some through a
referrer), interviews, admissions, optimal proposals confirmed by referents, sessions,
intermediate and final reviews (some late), early endings with rematches, questionnaires (most
mentees answer the start of programme one too, so its start/end table has figures),
outcomes at the end and six months after, networking events.

The services run in this process on a business clock that the script moves day by day from
the first cohort's recruitment to today, so every timer (reviews due and overdue, reminders)
fires as it would have. Then the real service processes take over from where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text

from services.common.auth import StaffRole, issue_token
from services.common.clock import ManualClock
from services.common.runtime import ServiceRuntime
from services.common.settings import Settings
from services.registry import definition_of
from services.followup.questionnaire import PROGRESS_INDICATORS

PARIS = ZoneInfo("Europe/Paris")
FIRST_COHORT = date(2025, 9, 1)
REGIONS = {"IDF": ["75011", "93200", "94200", "92000", "75019", "91000"],
           "BRE": ["29200", "35000", "56100", "22000", "29000", "35400"]}
ELSEWHERE = ["31000", "69003", "13001"]  # regions not taking part yet: waiting lists
REFERENTS = {"IDF": ("ref-idf-1", "Inès"), "BRE": ("ref-bre-1", "Maëlle")}
FIRST_NAMES = ["Léa", "Hugo", "Chloé", "Nathan", "Inès", "Yanis", "Manon", "Louis", "Camille",
               "Rayan", "Emma", "Noah", "Jade", "Adam", "Lina", "Malo", "Zoé", "Enzo", "Maël",
               "Sarah", "Gabriel", "Aya", "Lucas", "Louise", "Ibrahim", "Nina"]
LAST_NAMES = ["Martin", "Bernard", "Le Gall", "Kerhervé", "Diallo", "Nguyen", "Moreau",
              "Le Bihan", "Benali", "Petit", "Garcia", "Traoré", "Roux", "Fournier", "Morvan"]
SECTORS = ["social_action", "health_care", "environment_ecology", "culture", "sport_leisure",
           "education_training", "employment_integration", "housing", "finance_solidarity",
           "agriculture_food"]
JOBS = ["social_support", "care", "project_development", "management",
        "administration_finance", "human_resources_training", "communication_advocacy"]
SLOTS = ["weekday_daytime", "weekday_evening", "weekend"]
CHANNELS = ["university", "member_organisation", "mission_locale", "website"]
THEMES = ["getting_to_know", "career_project", "ess_discovery", "job_search", "networking",
          "skills"]
EARLY_REASONS = ["mentee_found_job", "mentee_found_training", "mentee_unavailable",
                 "mentee_withdrew", "mentor_unavailable", "mismatch", "moved_away", "no_contact"]
SITUATIONS = ["job_or_training_in_ess", "job_or_training_outside_ess", "job_seeking", "other"]


DIGEST_KEYS_DIR = "cles-synthese"


class DemoError(RuntimeError):
    pass


def digest_recipients(data_dir: Path) -> tuple[str, dict[str, Path]]:
    """One digest recipient per demo region, so the mail catcher holds the daily digests:
    an age key pair each, the private key in ``<data_dir>/cles-synthese/<REGION>.txt`` (mode
    600, kept across runs). Returns SUCCESS_DIGEST_RECIPIENTS and where the keys are."""
    from pyrage import x25519

    from services.common.private import private_directory, write_private

    directory = private_directory(data_dir / DIGEST_KEYS_DIR)
    recipients, keys = {}, {}
    for region in REGIONS:
        path = directory / f"{region}.txt"
        identity = _kept_identity(path) or x25519.Identity.generate()
        public = str(identity.to_public())
        write_private(path, f"# synthèse quotidienne {region} (clé privée age)\n"
                            f"# public key: {public}\n{identity}\n")
        recipients[region] = [{"email": f"synthese-{region.lower()}@cress.example",
                               "age": public}]
        keys[region] = path
    return json.dumps(recipients), keys


def _kept_identity(path: Path):
    from pyrage import x25519

    if not path.exists():
        return None
    secret = [line for line in path.read_text().splitlines()
              if line.startswith("AGE-SECRET-KEY-")]
    return x25519.Identity.from_str(secret[0]) if secret else None


@dataclass
class Seeder:
    settings: Settings
    today: date
    rng: random.Random = field(default_factory=lambda: random.Random(2025))
    clock: ManualClock = field(default_factory=lambda: ManualClock(
        datetime.combine(FIRST_COHORT - timedelta(days=80), time(9), tzinfo=PARIS)))
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    runtimes: dict[str, ServiceRuntime] = field(default_factory=dict)
    agenda: list[tuple[date, int, Callable]] = field(default_factory=list)
    counter: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    # -- plumbing -----------------------------------------------------------------------------

    def headers(self, region: str) -> dict[str, str]:
        subject = REFERENTS[region][0]
        token = issue_token(self.settings.auth_secret or "", subject, StaffRole.referent, region,
                            now=datetime.now(UTC))
        return {"Authorization": f"Bearer {token}"}

    def at(self, day: date, action: Callable) -> None:
        self.counter += 1
        self.agenda.append((day, self.counter, action))

    def count(self, what: str, n: int = 1) -> None:
        self.stats[what] = self.stats.get(what, 0) + n

    async def call(self, service: str, method: str, path: str, region: str | None = None,
                   expect: tuple[int, ...] = (200, 201), **kwargs) -> Any:
        headers = self.headers(region) if region else {}
        answer = await self.clients[service].request(method, path, headers=headers, **kwargs)
        if answer.status_code not in expect:
            raise DemoError(f"{service} {method} {path}: {answer.status_code} {answer.text}")
        return answer.json() if answer.content else None

    async def settle(self, check: Callable, timeout: float = 60.0) -> None:
        """Wait (real time) for events to travel between the services."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await check():
            if asyncio.get_running_loop().time() > deadline:
                raise DemoError("les services ne se sont pas synchronisés à temps")
            await asyncio.sleep(0.1)

    async def scalar(self, service: str, sql: str, **params) -> Any:
        async with self.runtimes[service].store.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    # -- the programme ------------------------------------------------------------------------

    def person(self, postcode: str, age: int, day: date) -> dict[str, Any]:
        self.counter += 1
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        return {"first_name": first, "last_name": last,
                "email": f"demo.{self.counter}@exemple.org", "postcode": postcode,
                "birth_date": (day - timedelta(days=int(age * 365.25) + self.rng.randint(
                    10, 300))).isoformat(),
                "channel": self.rng.choice(CHANNELS),
                "sector_interests": self.rng.sample(SECTORS, 2),
                "aspirations": self.rng.sample(JOBS, 1),
                "availability": self.rng.sample(SLOTS, 2), "remote_ok": self.rng.random() < 0.3,
                "consent_data_processing": True}

    def mentor(self, postcode: str) -> dict[str, Any]:
        self.counter += 1
        return {"first_name": self.rng.choice(FIRST_NAMES),
                "last_name": self.rng.choice(LAST_NAMES),
                "email": f"mentor.{self.counter}@exemple.org", "postcode": postcode,
                "channel": self.rng.choice(["recruitment_webinar", "member_organisation"]),
                "years_in_ess": self.rng.randint(3, 25),
                "employment_status": self.rng.choice(["employee", "employee", "volunteer"]),
                "organisation": self.rng.choice(["Coopérative Alpha", "Association Horizons",
                                                 "Mutuelle Solidaire", "SCIC Énergies"]),
                "sector_expertise": self.rng.sample(SECTORS, 3),
                "job_family": self.rng.choice(JOBS), "capacity": self.rng.choice([1, 1, 2]),
                "availability": self.rng.sample(SLOTS, 2), "remote_ok": True,
                "motivation": "Transmettre ce que l'ESS m'a appris.",
                "consent_data_processing": True}

    def plan_cohort(self, region: str, starts_on: date, size: int) -> None:
        recruit_from = starts_on - timedelta(days=75)
        for i in range(size + 3):
            day = recruit_from + timedelta(days=self.rng.randint(0, 40))
            self.at(day, lambda d, r=region: self.apply_mentee(r, d))
        for i in range(size):
            day = recruit_from + timedelta(days=self.rng.randint(0, 40))
            self.at(day, lambda d, r=region: self.apply_mentor(r, d))
        self.at(starts_on - timedelta(days=18), lambda d: self.match(region, starts_on, size))
        self.at(starts_on, lambda d: self.launch(region, starts_on))

    async def apply_mentee(self, region: str, day: date) -> None:
        roll = self.rng.random()
        postcode = self.rng.choice(REGIONS[region])
        if roll < 0.08:  # too old: refused at screening, counted
            form = self.person(postcode, 34, day)
        elif roll < 0.13:  # from a region not taking part yet: waiting list
            form = self.person(self.rng.choice(ELSEWHERE), 22, day)
        else:
            form = self.person(postcode, self.rng.randint(18, 29), day)
        if self.rng.random() < 0.2:  # registered by a referrer
            form["channel"] = "referrer"
            answer = await self.call("intake", "POST", "/applications/referral", json={
                "referrer": {"kind": "mission_locale_adviser", "first_name": "Claire",
                             "last_name": "Conseil", "email": "claire@missionlocale.example"},
                "young_person": form})
        else:
            answer = await self.call("intake", "POST", "/applications/mentee", json=form)
        self.count(f"applications_{answer['status']}")
        if answer["status"] == "routed":
            self.screen(answer, day, mentee=True)

    async def apply_mentor(self, region: str, day: date) -> None:
        answer = await self.call("intake", "POST", "/applications/mentor",
                                 json=self.mentor(self.rng.choice(REGIONS[region])))
        self.count("mentor_applications")
        if answer["status"] == "routed":
            self.screen(answer, day, mentee=False)

    def screen(self, answer: dict, day: date, mentee: bool) -> None:
        app_id, region = answer["application_id"], answer["region"]
        base = f"/staff/applications/{app_id}"
        roll = self.rng.random()

        async def interview(d: date) -> None:
            if mentee and roll < 0.05:
                await self.call("intake", "POST", f"{base}/withdrawal", region,
                                json={"reason": "found_job_or_training"})
                return
            booked = await self.call("intake", "POST", f"{base}/interviews", region, json={
                "scheduled_at": datetime.combine(d + timedelta(days=5), time(14),
                                                 tzinfo=PARIS).isoformat()})
            self.at(d + timedelta(days=6), lambda d2: outcome(d2, booked["interview_id"]))

        async def outcome(d: date, interview_id: str) -> None:
            unfavourable = roll > 0.92
            await self.call("intake", "POST", f"{base}/interviews/{interview_id}/outcome",
                            region, json={"outcome": "unfavourable" if unfavourable
                                          else "favourable"})
            if unfavourable:
                await self.call("intake", "POST", f"{base}/decline", region,
                                json={"reason": "project_not_aligned"})
            else:
                await self.call("intake", "POST", f"{base}/admit", region)
                self.count("admitted")

        self.at(day + timedelta(days=self.rng.randint(2, 7)), interview)

    async def match(self, region: str, starts_on: date, size: int) -> None:
        admitted = await self.scalar("intake", "SELECT count(*) FROM intake.events WHERE type = "
                                     "'CandidateAdmitted'")
        await self.settle(lambda: self._pool_has(admitted))
        opened = await self.call("matching", "POST", "/staff/cohorts", region, json={
            "region": region, "starts_on": starts_on.isoformat(), "target_pairs": size})
        cohort_id = opened["cohort_id"]
        run = await self.call("matching", "POST", f"/staff/cohorts/{cohort_id}/proposals",
                              region)
        for proposal in run["proposals"]:
            if self.rng.random() < 0.08:
                await self.call("matching", "POST", f"/staff/proposals/"
                                f"{proposal['match_id']}/decline", region,
                                json={"reason": "mentee_unavailable"})
                continue
            await self.call("matching", "POST",
                            f"/staff/proposals/{proposal['match_id']}/confirm", region)
            self.count("pairs")
        await self.settle(self._journeys_caught_up)
        await self.follow_cohort(cohort_id, region)

    async def _pool_has(self, admitted: int) -> bool:
        return await self.scalar("matching", "SELECT count(*) FROM matching.pool WHERE "
                                 "admitted_at IS NOT NULL") >= admitted

    async def _journeys_caught_up(self) -> bool:
        pairs = await self.scalar("matching", "SELECT count(*) FROM matching.pairs")
        return await self.scalar("followup", "SELECT count(*) FROM followup.journeys") >= pairs

    async def launch(self, region: str, starts_on: date) -> None:
        await self.call("matching", "POST", f"/staff/cohorts/{region}-{starts_on:%Y-%m}/launch",
                        region, expect=(200, 201, 409))

    async def follow_cohort(self, cohort_id: str, region: str) -> None:
        journeys = await self.call("followup", "GET", "/staff/pairs", region,
                                   params={"cohort_id": cohort_id, "status": "active"})
        for journey in journeys:
            self.follow_pair(journey, region)

    def follow_pair(self, journey: dict, region: str) -> None:
        pair = f"/staff/pairs/{journey['pair_id']}"
        starts = date.fromisoformat(journey["starts_on"])
        fate = self.rng.random()
        ends_early_at = (self.rng.randint(2, 10) if fate < 0.18 else None)
        late = fate > 0.8  # the referent is late with the intermediate review
        if self.rng.random() < 0.75:  # most mentees answer the kick-off's start questionnaire
            self.at(starts + timedelta(days=self.rng.randint(0, 20)), lambda d: self.call(
                "followup", "POST", f"{pair}/questionnaires", region, expect=(201, 409),
                json={"kind": "start_of_programme", "respondent": "mentee", "answers": {
                    k.value: self.rng.choice([1, 2, 2, 3, 3, 4]) for k in PROGRESS_INDICATORS}}))

        for month in range(0, 12, 1 if self.rng.random() < 0.5 else 2):
            if ends_early_at is not None and month >= ends_early_at:
                break
            held = starts + timedelta(days=30 * month + self.rng.randint(1, 20))
            self.at(held, lambda d, h=held: self.call(
                "followup", "POST", f"{pair}/sessions", region, expect=(201, 409), json={
                    "held_on": h.isoformat(), "duration_minutes": self.rng.choice([45, 60, 90]),
                    "format": self.rng.choice(["in_person", "remote"]),
                    "theme": self.rng.choice(THEMES), "used_toolkit": self.rng.random() < 0.6}))
        if ends_early_at is not None:
            self.at(starts + timedelta(days=30 * ends_early_at + 3), lambda d: self.call(
                "followup", "POST", f"{pair}/end", region, expect=(200, 409), json={
                    "reason": self.rng.choice(EARLY_REASONS),
                    "ended_by": self.rng.choice(["mentee", "mentor", "referent"])}))
            self.at(starts + timedelta(days=30 * ends_early_at + 10), lambda d: self.call(
                "followup", "POST", f"{pair}/outcomes", region, expect=(201, 409), json={
                    "moment": "end", "situation": self.rng.choice(SITUATIONS)}))
            return
        intermediate = date.fromisoformat(journey["reviews"]["intermediate"]["due_on"])
        # Late ones are held 45 to 100 days after the due date: some are still overdue today,
        # so the back-office's overdue list has something to show.
        held_on = intermediate + timedelta(days=self.rng.randint(45, 100) if late
                                           else self.rng.randint(-10, 12))
        self.at(held_on, lambda d: self.call(
            "followup", "POST", f"{pair}/reviews/intermediate", region, expect=(201, 409),
            json={"held": True, "held_on": d.isoformat(),
                  "assessment": self.rng.choice(["on_track", "on_track", "needs_support"]),
                  "ratings": {"relationship_quality": self.rng.randint(3, 5),
                              "meeting_regularity": self.rng.randint(2, 5)},
                  "concerns": self.rng.sample(["availability", "motivation"], k=int(late))}))
        final = date.fromisoformat(journey["reviews"]["final"]["due_on"])
        final_on = final + timedelta(days=self.rng.randint(-5, 10))

        def answers(keys: list[str]) -> dict[str, int]:
            return {k: self.rng.choice([3, 4, 4, 5, 5]) for k in keys}

        self.at(final_on, lambda d: self.call(
            "followup", "POST", f"{pair}/reviews/final", region, expect=(201, 409), json={
                "held": True, "held_on": d.isoformat(), "assessment": "on_track",
                "questionnaires": [
                    {"respondent": "mentee", "answers": answers([
                        "ess_knowledge", "career_clarity", "self_confidence",
                        "professional_network", "job_search_skills", "satisfaction",
                        "would_recommend"])},
                    {"respondent": "mentor", "answers": answers(["mentor_satisfaction",
                                                                 "would_recommend"])}]}))
        self.at(final_on + timedelta(days=7), lambda d: self.call(
            "followup", "POST", f"{pair}/outcomes", region, expect=(201, 409), json={
                "moment": "end", "situation": self.rng.choice(SITUATIONS),
                "satisfaction": self.rng.randint(3, 5)}))
        self.at(final_on + timedelta(days=190), lambda d: self.call(
            "followup", "POST", f"{pair}/outcomes", region, expect=(201, 409), json={
                "moment": "six_months_after", "situation": self.rng.choice(SITUATIONS[:3]),
                "satisfaction": self.rng.randint(3, 5)}))

    def plan_networking(self, region: str, day: date) -> None:
        async def schedule(d: date) -> None:
            created = await self.call("followup", "POST", "/staff/networking-events", region,
                                      json={"region": region, "kind": "networking",
                                            "audience": "all", "format": "in_person",
                                            "departement": REGIONS[region][0][:2],
                                            "starts_at": datetime.combine(
                                                d + timedelta(days=20), time(18),
                                                tzinfo=PARIS).isoformat()})
            journeys = await self.call("followup", "GET", "/staff/pairs", region)
            people = [(j["mentee_id"], "mentee") for j in journeys[:12]]
            path = f"/staff/networking-events/{created['networking_event_id']}"
            for person, role in people:
                await self.call("followup", "POST", f"{path}/registrations", region,
                                json={"person_id": person, "role": role})

            async def attendance(d2: date) -> None:
                for person, _ in people:
                    await self.call("followup", "POST", f"{path}/attendance", region, json={
                        "person_id": person, "attended": self.rng.random() < 0.75})

            self.at(d + timedelta(days=21), attendance)

        self.at(day, schedule)

    # -- running it ---------------------------------------------------------------------------

    async def run(self, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        async with AsyncExitStack() as stack:
            for name in ("intake", "matching", "followup"):
                # Every seeded form comes from this process: no per-address limit here.
                seeding = self.settings.model_copy(update={"public_rate_per_minute": 0})
                runtime = ServiceRuntime(definition_of(name), seeding, self.clock)
                app = runtime.app()
                await stack.enter_async_context(app.router.lifespan_context(app))
                self.runtimes[name] = runtime
                self.clients[name] = await stack.enter_async_context(httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url=f"http://{name}",
                    timeout=60))
            followup = self.runtimes["followup"].state["followup"]
            from services.followup.workflow import HttpContactBook

            followup.contacts = HttpContactBook(self.settings, base_url="http://intake",
                                                transport=self.clients["intake"]._transport)
            for region, (referent, name) in REFERENTS.items():
                await self.call("followup", "PUT", f"/staff/referents/{referent}", region,
                                json={"region": region, "display_name": name,
                                      "email": f"{referent}@cress.example"})
            starts = FIRST_COHORT
            while starts <= self.today + timedelta(days=70):
                for region in REGIONS:
                    self.plan_cohort(region, starts, self.rng.randint(8, 12))
                    self.plan_networking(region, starts + timedelta(days=100))
                starts = date(starts.year + (starts.month + 3 > 12), (starts.month + 2) % 12 + 1,
                              1)
            day, done = self.clock.now().date(), 0
            while self.agenda:
                self.agenda.sort(key=lambda item: (item[0], item[1]))
                if self.agenda[0][0] > self.today:
                    break
                when, _, action = self.agenda.pop(0)
                if when > day:
                    day = when
                    self.clock.set(datetime.combine(day, time(10), tzinfo=PARIS))
                    while await followup.fire_due():
                        pass
                    await followup.send_pending()
                await action(day)
                done += 1
                if progress:
                    progress(done, done + len(self.agenda))
            now = datetime.now(PARIS)  # end on `today`, at the current time of day
            self.clock.set(max(self.clock.now(), datetime.combine(self.today, now.time(),
                                                                  tzinfo=PARIS)))
            while await followup.fire_due():
                pass
            await followup.send_pending()
            await self.settle(self._journeys_caught_up)
        return self.stats


async def seed(settings: Settings, progress: Callable[[int, int], None] | None = None,
               today: date | None = None) -> dict[str, int]:
    today = today or datetime.now(PARIS).date()
    return await Seeder(settings, today).run(progress)


DEMO_ACCOUNTS = [  # (e-mail, name, role, region, subject: the demo's referents keep theirs)
    ("admin@cress.example", "Administratrice nationale", "admin", None, "admin-national"),
    ("referente-idf@cress.example", "Inès (référente IDF)", "referent", "IDF",
     REFERENTS["IDF"][0]),
    ("referente-bre@cress.example", "Maëlle (référente BRE)", "referent", "BRE",
     REFERENTS["BRE"][0]),
    ("analyste@cress.example", "Analyste national", "analyst", None, "analyste-national"),
]


async def create_demo_accounts(settings: Settings) -> list[str]:
    """The demo's back-office accounts with fresh random passwords: lines saying who is who,
    for a file only the user reads (nothing is made for accounts that exist already)."""
    import secrets

    from services.backoffice.accounts import AccountError
    from services.backoffice.invitations import add_account
    from services.backoffice.repository import Accounts

    accounts = Accounts.connect(settings.database_url)
    lines = [f"Espace du personnel : {settings.backoffice_url}", ""]
    try:
        for email, name, role, region, subject in DEMO_ACCOUNTS:
            password = "-".join(secrets.token_urlsafe(4) for _ in range(3))
            try:
                await add_account(accounts, settings, email=email, role=role, region=region,
                                  name=name, subject=subject, password=password)
            except AccountError:
                continue
            lines.append(f"{name:<28} {email:<30} mot de passe : {password}")
    finally:
        await accounts.dispose()
    return lines if len(lines) > 2 else []
