"""The intake service process."""

from events import Service
from services.common.runtime import ServiceDefinition, ServiceRuntime
from services.common.settings import require
from services.intake.api import router as public_router
from services.intake.staff import router as staff_router
from services.intake.vault import Vault
from services.intake.workflow import Intake


def _start(runtime: ServiceRuntime) -> None:
    assert runtime.store is not None
    key = require(runtime.settings.vault_master_key, "SUCCESS_VAULT_MASTER_KEY",
                  "Clé maîtresse du coffre")
    require(runtime.settings.auth_secret, "SUCCESS_AUTH_SECRET", "Secret des jetons du personnel")
    vault = Vault.from_setting(key, runtime.clock)
    runtime.state["intake"] = Intake(runtime.store, vault, runtime.settings, runtime.clock)


definition = ServiceDefinition(
    service=Service.intake,
    description="Candidatures des mentoré·es et des mentors : dépôt, éligibilité, entretiens, "
    "orientation régionale, coffre de données personnelles.",
    routers=[public_router, staff_router],
    on_start=_start,
)
