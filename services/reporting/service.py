"""The reporting service process: archives every domain event and keeps the read models,
serves them (API and dashboard) and sends the daily digest."""

from events import Service
from events.base import DOMAIN_SUBJECTS
from services.common.consumer import Consumer
from services.common.runtime import ServiceDefinition
from services.reporting.api import router
from services.reporting.dashboard import router as dashboard
from services.reporting.digest import start_background
from services.reporting.person_events import router as person_events
from services.reporting.projections import archive_and_project

definition = ServiceDefinition(
    service=Service.reporting,
    description="Archive de tous les événements, vues par cohorte, tableaux de bord et exports.",
    consumers=[Consumer("archive", DOMAIN_SUBJECTS, archive_and_project, batch=True)],
    routers=[router, dashboard, person_events],
    on_start=start_background,  # rebuild stale read models, then the 10:00 digest timer
)
