"""The matching service process (cohorts, pool and pairs come with the matching issue)."""

from events import Service
from services.common.runtime import ServiceDefinition

definition = ServiceDefinition(
    service=Service.matching,
    description="Cohortes, vivier des candidat·es admis·es, propositions et binômes.",
)
