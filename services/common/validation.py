"""Bounded types for what crosses the API edge, shared by every service's request models.

Every date, instant, integer, string and list a client sends is bounded here, before any rule
or SQL sees it: a value outside its range is a French 422, never an overflow in Python or
PostgreSQL (a 500). Body fields are strict (a JSON boolean or integer where one is meant:
``true`` is not a capacity, ``"yes"`` is not a consent); query parameters arrive as text and
are converted, then bounded the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from annotated_types import Interval
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AwareDatetime, Field, Strict, StrictBool, StrictInt, StringConstraints

from services.common.api import french_error

T = TypeVar("T")

# PostgreSQL's integer column and LIMIT/OFFSET of a page: far above any real list, far below
# what would overflow a bigint.
MAX_OFFSET = 1_000_000
MAX_PAGE = 1000
MAX_LIST = 50  # items of a list in a form (sectors, availability…): vocabularies are shorter

# Years a programme date may take (cohorts, sessions, reviews, events) and a birth date.
PROGRAMME_YEARS = (2020, 2100)
BIRTH_YEARS = (1900, 2100)
# An instant asked of the reports: any the datetime type holds in every time zone (a future
# one is then refused by the reports themselves, with their own message).
INSTANT_YEARS = (1900, 9998)

# C0 and C1 control characters except tab, line feed and carriage return (kept in free text),
# and lone surrogates (JSON's "\ud800": no UTF-8 for them). PostgreSQL refuses NUL outright,
# the others have no place in a name or a code.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"[\t\n\r]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise french_error("invalid_characters", "Ce champ contient des caractères de contrôle "
                           "non autorisés.")
    return value


def _single_line(value: str) -> str:
    if _LINE_BREAK.search(_no_control(value)):
        raise french_error("invalid_characters", "Ce champ tient sur une seule ligne (sans "
                           "tabulation ni retour à la ligne).")
    return value


def Line(max_length: int, min_length: int = 0) -> type[str]:  # noqa: N802 (a type factory)
    """A one-line string (name, organisation, label): trimmed, bounded, no control character."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,  # type: ignore[return-value]
                                            max_length=max_length, strict=True),
                     AfterValidator(_single_line)]


def Text(max_length: int) -> type[str]:  # noqa: N802 (a type factory)
    """Free text on several lines: bounded, no control character but line breaks and tabs."""
    return Annotated[str, StringConstraints(strip_whitespace=True, max_length=max_length,  # type: ignore[return-value]
                                            strict=True),
                     AfterValidator(_no_control)]


def BoundedList(item: type[T], max_length: int = MAX_LIST, min_length: int = 0) -> type[list[T]]:  # noqa: N802
    """A list of at most ``max_length`` items: a huge list is refused in one error."""
    return Annotated[list[item], Field(min_length=min_length, max_length=max_length)]  # type: ignore[valid-type,return-value]


def _year_range(years: tuple[int, int], code: str, message: str):
    low, high = years

    def check(value: date) -> date:
        if not low <= value.year <= high:
            raise french_error(code, message.format(low=low, high=high))
        return value

    return AfterValidator(check)


BirthDate = Annotated[date, _year_range(
    BIRTH_YEARS, "implausible_date",
    "Date de naissance invraisemblable : vérifiez-la (format AAAA-MM-JJ).")]
ProgrammeDate = Annotated[date, _year_range(
    PROGRAMME_YEARS, "date_out_of_range",
    "Date hors de la période du programme : entre {low} et {high} (format AAAA-MM-JJ).")]


def _utc_within(years: tuple[int, int], message: str):
    low, high = years

    def check(value: datetime) -> datetime:
        # Converting 0001-01-01T00:00+14:00 or 9999-12-31T23:59-14:00 to UTC overflows.
        if not (low <= value.year <= high and low <= value.astimezone(UTC).year <= high):
            raise french_error("datetime_out_of_range", message.format(low=low, high=high))
        return value

    return AfterValidator(check)


PARIS = ZoneInfo("Europe/Paris")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def instant_or_day(value: str) -> datetime:
    """An instant asked by a person (``as_of`` of the reports, ``--as-of`` of the CLI): ISO 8601,
    or a bare date ``2026-11-29`` meaning the end of that day, Paris time (the programme's
    days). ``ValueError`` when unreadable; an instant without a time zone comes back naive,
    for the caller to refuse in its own words."""
    if _DAY.match(value):
        return datetime.combine(date.fromisoformat(value), time.max, PARIS)
    return datetime.fromisoformat(value)


ProgrammeInstant = Annotated[AwareDatetime, _utc_within(
    PROGRAMME_YEARS, "Date et heure hors de la période du programme : entre {low} et {high}.")]
Instant = Annotated[AwareDatetime, _utc_within(
    INSTANT_YEARS, "Instant hors de la plage acceptée : entre {low} et {high}.")]

# Body fields: a JSON boolean or integer, nothing converted.
Flag = StrictBool


def Count(low: int, high: int) -> type[int]:  # noqa: N802 (a type factory)
    """A strict JSON integer in [low, high] (capacity, objectives, minutes, ratings)."""
    return Annotated[StrictInt, Field(ge=low, le=high)]  # type: ignore[return-value]


# Query parameters (text in the URL, converted): a page of a list.
Limit = Annotated[int, Interval(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Interval(ge=0, le=MAX_OFFSET)]

# Codes in URLs and bodies: ASCII digits only (\d would also match other scripts' digits).
COHORT_MONTH_PATTERN = r"^[0-9]{4}-(03|06|09|12)$"
COHORT_ID_PATTERN = r"^[A-Z]{3}-[0-9]{4}-(0[1-9]|1[0-2])$"
POSTCODE_PATTERN = r"^[0-9]{5}$"



def _email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise french_error("invalid_email", "Adresse e-mail invalide : vérifiez-la "
                           "(ex. prenom.nom@exemple.fr).") from None


Email = Annotated[str, StringConstraints(max_length=254, strict=True), AfterValidator(_email),
                  Field(json_schema_extra={"format": "email"})]  # documented as an e-mail

# A share in [0, 1] (a minimum matching score): a JSON number, never a boolean, NaN or infinity.
Score = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
