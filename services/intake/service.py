"""The intake service process."""

from events import Service
from services.common.runtime import ServiceDefinition
from services.intake.api import router

definition = ServiceDefinition(
    service=Service.intake,
    description="Candidatures des mentoré·es et des mentors : dépôt, éligibilité, entretiens, "
    "orientation régionale, coffre de données personnelles.",
    routers=[router],
)
