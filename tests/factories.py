"""Small builders of valid events for plumbing tests."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from events import Metadata
from events.matching import CohortOpened


def metadata(region: str = "IDF", actor: str = "system") -> Metadata:
    return Metadata(region=region, actor=actor, correlation_id=uuid4())


def cohort_opened(n: int = 1) -> CohortOpened:
    return CohortOpened(cohort_id="IDF-2025-09", starts_on=date(2025, 9, 1), target_pairs=n,
                        cut_off_on=date(2025, 8, 15))
