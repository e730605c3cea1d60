"""A consumer process for bench/relay.py: the durable consumer of ``success.*.*.*`` with a
trivial handler, in its own process as in production (reporting runs apart from the relay
of the service that writes). Prints READY once subscribed; runs until terminated. With a
fifth argument, runs under cProfile (CPU time) and writes the statistics to that file when
stopped."""

import asyncio
import cProfile
import signal
import sys
import time

from faststream.nats import NatsBroker

from events import Service
from services.common.consumer import Consumer, ConsumerRunner
from services.common.settings import Settings
from services.common.store import EventStore


async def main(nats_url: str, database_url: str, schema: str, batch_size: int) -> None:
    settings = Settings(nats_url=nats_url, database_url=database_url, log_json=False,
                        consumer_batch_size=batch_size)
    store = EventStore.connect(database_url, schema)

    async def trivial(_envelope, _tx) -> None:
        return None

    broker = NatsBroker(nats_url, logger=None)
    ConsumerRunner(Service(schema), Consumer("bench-proc", "success.*.*.*", trivial, batch=True),
                   store, broker, settings).subscribe()
    await broker.start()
    print("READY", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await broker.stop()
    await store.dispose()


if __name__ == "__main__":
    run = main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
    if len(sys.argv) > 5:
        with cProfile.Profile(time.process_time) as profile:  # CPU time: steadier under load
            asyncio.run(run)
        profile.dump_stats(sys.argv[5])
    else:
        asyncio.run(run)
