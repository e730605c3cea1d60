"""The follow-up service process (journeys, reviews and timers come with the follow-up issue)."""

from events import Service
from services.common.runtime import ServiceDefinition

definition = ServiceDefinition(
    service=Service.followup,
    description="Suivi des binômes sur 12 mois : bilans, séances, questionnaires, sorties.",
)
