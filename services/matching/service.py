"""The matching service process: the pool from intake's events, cohorts, proposals, pairs."""

from events import Service
from services.common.consumer import Consumer
from services.common.runtime import ServiceDefinition, ServiceRuntime
from services.common.settings import require
from services.matching.api import router
from services.matching.pool import on_intake_event
from services.matching.workflow import Matching, on_followup_ended


def _start(runtime: ServiceRuntime) -> None:
    assert runtime.store is not None
    require(runtime.settings.auth_secret, "SUCCESS_AUTH_SECRET", "Secret des jetons du personnel")
    runtime.state["matching"] = Matching(runtime.store, runtime.clock)


definition = ServiceDefinition(
    service=Service.matching,
    description="Cohortes, vivier des candidat·es admis·es, propositions optimales et binômes.",
    consumers=[Consumer("pool", "success.*.intake.*", on_intake_event, batch=True),
               Consumer("journeys", "success.*.followup.FollowUpEnded", on_followup_ended)],
    routers=[router],
    on_start=_start,
)
