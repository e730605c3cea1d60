"""The consumer's remembered subject checks (services.common.consumer.load_trusted) give the
verdicts of events.base.load_trusted_event, also once a subject is known: the same event on
an untrusted or disagreeing subject, or a malformed body on a trusted one, is still refused
with the same code and reason."""

from __future__ import annotations

from uuid import uuid4

import pytest

from events import MalformedEvent
from events.base import load_trusted_event
from services.common.consumer import load_trusted
from tests.reporting_history import envelope, erased, received

APPLICATION = envelope(received(uuid4()), region="IDF")
ERASURE = envelope(erased(uuid4()), region="IDF")
OTHER_REGION = envelope(received(uuid4()), region="BRE")
SUBJECT = "success.IDF.intake.ApplicationReceived"


def verdict(load, subject: str, body: bytes):
    try:
        return load(subject, body)
    except MalformedEvent as exc:
        return exc.code, exc.reason


@pytest.mark.parametrize(("subject", "body"), [
    (SUBJECT, APPLICATION.to_json()),
    (SUBJECT, OTHER_REGION.to_json()),  # region disagrees with the known subject
    (SUBJECT, ERASURE.to_json()),  # type disagrees
    ("success.IDF.matching.ApplicationReceived", APPLICATION.to_json()),  # owning service
    (SUBJECT, b"\xff not json"),
    (SUBJECT, b'{"type": "ApplicationReceived"}'),
    ("success.OCC.partner.ApplicationReceived", APPLICATION.to_json()),
    ("success.OCC.partner.Anything", b"\xff not json"),
    ("success.BRE.intake.ApplicationReceived", OTHER_REGION.to_json()),
])
def test_remembered_checks_give_the_verdicts_of_load_trusted_event(subject, body):
    load_trusted(SUBJECT, APPLICATION.to_json())  # the subject is known from now on
    assert verdict(load_trusted, subject, body) == verdict(load_trusted_event, subject, body)
    # and again, once whatever this case could teach it is remembered
    assert verdict(load_trusted, subject, body) == verdict(load_trusted_event, subject, body)
