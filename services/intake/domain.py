"""Pure intake domain: an application's state, the decisions on it, and how events evolve it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import singledispatch

from events import EventData
from events.intake import ApplicationReceived
from events.vocabulary import AgeBand


class DomainError(Exception):
    """A command the rules refuse: ``code`` for programs, ``message`` in French for people."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Application:
    submitted: bool = False


@dataclass(frozen=True)
class SubmitApplication:
    profile: ApplicationReceived  # the coarse, pseudonymous part of the application


def decide(state: Application, command: SubmitApplication) -> list[EventData]:
    if state.submitted:
        raise DomainError("already_submitted", "Cette candidature a déjà été déposée.")
    return [command.profile]


@singledispatch
def evolve(event: EventData, state: Application) -> Application:
    return state


@evolve.register
def _(event: ApplicationReceived, state: Application) -> Application:
    return Application(submitted=True)


def replay(events: list[EventData]) -> Application:
    state = Application()
    for event in events:
        state = evolve(event, state)
    return state


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def age_band(age: int) -> AgeBand:
    if age < 18:
        return AgeBand.under_18
    if age <= 20:
        return AgeBand.age_18_20
    if age <= 25:
        return AgeBand.age_21_25
    if age <= 30:
        return AgeBand.age_26_30
    return AgeBand.over_30
