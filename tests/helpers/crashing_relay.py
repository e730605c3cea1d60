"""A relay process that SIGKILLs itself right after JetStream acknowledged a batch and before
the checkpoint is written: the worst moment for duplicates."""

import asyncio
import os
import signal
import sys

from services.common.relay import OutboxRelay
from services.common.settings import Settings
from services.common.store import EventStore


async def main(nats_url: str, database_url: str) -> None:
    async def die(_batch) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    store = EventStore.connect(database_url, "intake")
    settings = Settings(nats_url=nats_url, database_url=database_url, relay_batch_size=7)
    await OutboxRelay(store, nats_url, settings, after_publish=die).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
