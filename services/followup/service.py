"""The follow-up service process: journeys planned from matching's pairs, the staff API,
and the loop that fires durable timers and sends reminders."""

from weakref import WeakKeyDictionary

from events import Envelope, Service
from services.common.clock import ControlledClock
from services.common.consumer import Consumer
from services.common.runtime import ServiceDefinition, ServiceRuntime
from services.common.settings import require
from services.common.store import EventStore, Transaction
from services.followup.api import router
from services.followup.workflow import Followup, HttpContactBook

# The Followup of each running service, by its store: consumer handlers only get a transaction.
_BY_STORE: "WeakKeyDictionary[EventStore, Followup]" = WeakKeyDictionary()


async def on_matching_event(envelope: Envelope, tx: Transaction) -> None:
    await _BY_STORE[tx.store].on_matching_event(envelope, tx)


def _start(runtime: ServiceRuntime) -> None:
    assert runtime.store is not None
    require(runtime.settings.auth_secret, "SUCCESS_AUTH_SECRET", "Secret des jetons du personnel")
    followup = Followup(runtime.store, runtime.clock, runtime.settings,
                        HttpContactBook(runtime.settings))
    runtime.state["followup"] = followup
    if isinstance(runtime.clock, ControlledClock):  # the shared clock jumped: look at timers now
        runtime.clock.on_move(followup.poke)
    _BY_STORE[runtime.store] = followup


async def _loop(runtime: ServiceRuntime) -> None:
    await runtime.state["followup"].run(runtime.settings.served_region_codes())


definition = ServiceDefinition(
    service=Service.followup,
    description="Suivi des binômes sur 12 mois : séances, bilans, rappels, questionnaires, "
    "sorties, événements de réseautage.",
    consumers=[Consumer("journeys", "success.*.matching.*", on_matching_event)],
    routers=[router],
    on_start=_start,
    background=_loop,
)
