"""Outbox -> JetStream -> consumer throughput, against raw nats-py publishing, in one run.

1. Pre-fill: N events appended through ``EventStore.append`` (schema ``matching``), relay
   stopped. Untimed.
2. Ceiling: the same N messages (the relay's own wire bytes, subjects and ``Nats-Msg-Id``
   headers, read back untimed through ``read_unpublished``) published with raw nats-py
   ``js.publish_async`` in windows of the relay's batch size, each window's acks awaited,
   into a freshly created ``success`` stream (``bus.ensure_stream``: file storage, same
   duplicate window).
3. Relay only: fresh stream, checkpoint reset; ``OutboxRelay.run`` timed from its start until
   ``relay.published == N``; read / publish / checkpoint phases timed (the relay reads the
   next batch and writes the last checkpoint while it publishes, so phases overlap).
4. End to end: fresh stream, checkpoint reset; a FastStream ``ConsumerRunner`` (durable pull
   consumer of ``success.*.*.*``, trivial handler, one DB transaction per pulled batch,
   explicit acks after commit) is started first, then the relay; timed from relay start
   until the consumer has committed all N. Once in this process (one event loop for relay
   and consumer), and with the consumer in its own process, as deployed: those runs
   alternate with the ceiling's (ceiling, ours, ours, ceiling, ...), best of each, so that a
   swing of the machine's load does not hit one side only.

The relay publishes each batch as one JetStream atomic batch (one acknowledgement per batch),
where the ceiling waits for one acknowledgement per message: the relay alone can beat it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path, log settings)
import asyncpg
import nats
import psutil
from _common import (
    cohort_opened,
    create_database,
    metadata,
    peak_rss_mb,
    pg_settings,
    print_table,
    quiet_logs,
    servers,
    verdict,
)
from faststream.nats import NatsBroker
from nats.js.errors import NotFoundError

from events import EVENT_STREAM_NAME, Service
from services.common import bus
from services.common.consumer import EVENTS_HANDLED, Consumer, ConsumerRunner
from services.common.relay import OutboxRelay
from services.common.settings import Settings
from services.common.store import Cursor, EventStore, raw_database_url

SCHEMA = "matching"  # where the events are appended (the relayed outbox)
CONSUMER = Service.followup  # the consumer's service: its schema holds processed_events
TARGET = 0.5


class Cpu:
    """CPU seconds (user + system) of this process, PostgreSQL's tree and nats-server."""

    def __init__(self, pg_pid: int, nats_pid: int) -> None:
        self.me, self.pg, self.nats = psutil.Process(), psutil.Process(pg_pid), psutil.Process(nats_pid)

    @staticmethod
    def _tree(proc: psutil.Process) -> float:
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def sample(self) -> tuple[float, float, float]:
        # This process alone: PostgreSQL, nats-server and the consumer are its children.
        mine = self.me.cpu_times()
        return mine.user + mine.system, self._tree(self.pg), self._tree(self.nats)


async def prefill(store: EventStore, n: int, batch: int, writers: int) -> None:
    events = [cohort_opened(i + 1) for i in range(batch)]
    per_writer = -(-n // writers)

    async def writer(w: int) -> None:
        md, version, left = metadata(), 0, min(per_writer, n - w * per_writer)
        while left > 0:
            chunk = events[: min(batch, left)]
            await store.append(f"bench-w{w}", version, chunk, md)
            version += len(chunk)
            left -= len(chunk)

    await asyncio.gather(*(writer(w) for w in range(writers)))


async def fresh_stream(nats_url: str, settings: Settings) -> None:
    nc = await nats.connect(nats_url)
    try:
        try:
            await nc.jetstream().delete_stream(EVENT_STREAM_NAME)
        except NotFoundError:
            pass
        await bus.ensure_stream(nc, settings)
    finally:
        await nc.close()


async def stream_count(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().stream_info(EVENT_STREAM_NAME)).state.messages
    finally:
        await nc.close()


async def reset_checkpoint(url: str) -> None:
    conn = await asyncpg.connect(raw_database_url(url))
    try:
        await conn.execute(f"DELETE FROM {SCHEMA}.relay_checkpoints")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def wire_messages(store: EventStore, n: int) -> list[tuple[str, bytes, str]]:
    """What the relay will publish: (subject, envelope JSON bytes, Nats-Msg-Id), in order."""
    out, cursor = [], Cursor()
    while len(out) < n:
        batch = await store.read_unpublished(cursor, 5000)
        if not batch:
            raise RuntimeError(f"only {len(out)} of {n} events readable")
        out += [(m.subject, m.payload, m.event_id) for m in batch]
        cursor = batch[-1].cursor
    return out


async def raw_publish(nats_url: str, messages: list[tuple[str, bytes, str]], window: int) -> float:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        t0 = time.perf_counter()
        for start in range(0, len(messages), window):
            acks = [
                await js.publish_async(subject, payload, stream=EVENT_STREAM_NAME,
                                       headers={"Nats-Msg-Id": msg_id})
                for subject, payload, msg_id in messages[start:start + window]
            ]
            await asyncio.gather(*acks)
        return time.perf_counter() - t0
    finally:
        await nc.close()


class Phases:
    """Wall time inside the relay's steps (wrapping the instance's methods, nothing else)."""

    def __init__(self, relay: OutboxRelay) -> None:
        self.read = self.checkpoint = self.batch = self.publish = 0.0
        self.batches = 0
        store = relay.store
        read, save, once = store.read_unpublished, store.save_checkpoint, relay.publish_once
        publish = relay._publish

        async def timed_publish(*a, **k):
            t = time.perf_counter()
            try:
                return await publish(*a, **k)
            finally:
                self.publish += time.perf_counter() - t

        async def timed_read(*a, **k):
            t = time.perf_counter()
            try:
                return await read(*a, **k)
            finally:
                self.read += time.perf_counter() - t

        async def timed_save(*a, **k):
            t = time.perf_counter()
            try:
                return await save(*a, **k)
            finally:
                self.checkpoint += time.perf_counter() - t

        async def timed_once(*a, **k):
            t = time.perf_counter()
            try:
                moved = await once(*a, **k)
                self.batches += bool(moved)
                return moved
            finally:
                self.batch += time.perf_counter() - t

        store.read_unpublished, store.save_checkpoint = timed_read, timed_save
        relay.publish_once, relay._publish = timed_once, timed_publish


async def until(check, timeout: float, interval: float = 0.002) -> float:
    """Poll until ``check()``; returns perf_counter() at which it became true."""
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        await asyncio.sleep(interval)
    return time.perf_counter()


async def measure(args: argparse.Namespace) -> None:
    quiet_logs()
    n = args.events
    with servers(keep=args.keep) as (pg, ns):
        url = await create_database(pg, [Service(SCHEMA), CONSUMER])
        durability = await pg_settings(url, ["fsync", "synchronous_commit"])
        settings = Settings(nats_url=ns.url, database_url=url, log_json=False,
                            relay_batch_size=args.batch_size)
        cpu = Cpu(pg.process.pid, ns.process.pid)
        print(f"durability: fsync={durability['fsync']}, synchronous_commit="
              f"{durability['synchronous_commit']}, JetStream file storage, duplicate window "
              f"{settings.duplicate_window_s:.0f} s; relay batch {settings.relay_batch_size}, "
              f"consumer batch {settings.consumer_batch_size}")

        store = EventStore.connect(url, SCHEMA, pool_size=args.prefill_writers)
        t = time.perf_counter()
        await prefill(store, n, args.prefill_batch, args.prefill_writers)
        print(f"pre-filled {n:,} events in {time.perf_counter() - t:.1f} s "
              f"({args.prefill_batch} per append, {args.prefill_writers} writers)", flush=True)
        messages = await wire_messages(store, n)
        size = sum(len(p) for _s, p, _i in messages) / n
        await store.dispose()
        rows, phase_rows = [], []

        # --- ceiling: raw nats-py into a fresh stream (best of --raw-repeat) --------------
        # Alternated with the end to end run with the consumer in its own process (ceiling,
        # ours, ours, ceiling, ...), best of each: a swing of the load hits both sides.
        raw_s, c0, c1 = float("inf"), (), ()
        apart: tuple[float, tuple] = (float("inf"), ())
        for repeat in range(args.raw_repeat):
            for which in ("raw", "apart") if repeat % 2 == 0 else ("apart", "raw"):
                if which == "apart":
                    measured = await consumer_apart(args, pg, ns, url, settings, n,
                                                    profile=repeat == 0)
                    apart = min(apart, measured, key=lambda m: m[0])
                    print(f"  consumer apart: {n / measured[0]:,.0f}/s", flush=True)
                    continue
                await fresh_stream(ns.url, settings)
                a = cpu.sample()
                secs = await raw_publish(ns.url, messages, settings.relay_batch_size)
                b = cpu.sample()
                stored = await stream_count(ns.url)
                if stored != n:
                    raise RuntimeError(f"raw publish stored {stored} of {n}")
                if secs < raw_s:
                    raw_s, c0, c1 = secs, a, b
        raw_rate = n / raw_s
        rows.append([f"raw nats-py publish_async (ceiling, best of {args.raw_repeat})", raw_s,
                     raw_rate, 1.0, "",
                     *_cpu(c0, c1, n)])
        print(f"  raw publish: {raw_rate:,.0f}/s", flush=True)

        # --- relay alone ------------------------------------------------------------------
        await fresh_stream(ns.url, settings)
        await reset_checkpoint(url)
        store = EventStore.connect(url, SCHEMA)
        relay = OutboxRelay(store, ns.url, settings)
        phases = Phases(relay)
        c0 = cpu.sample()
        t0 = time.perf_counter()
        task = asyncio.create_task(relay.run())
        t1 = await until(lambda: relay.published >= n, args.timeout)
        c1 = cpu.sample()
        relay.stop()
        await asyncio.wait_for(task, 30)
        await store.dispose()
        stored = await stream_count(ns.url)
        if stored != n:
            raise RuntimeError(f"relay stored {stored} of {n}")
        relay_rate = n / (t1 - t0)
        ratio = relay_rate / raw_rate
        rows.append(["OutboxRelay alone (until published == N)", t1 - t0, relay_rate, ratio,
                     f">= {TARGET} {verdict(ratio, TARGET)}", *_cpu(c0, c1, n)])
        total = t1 - t0
        other = total - phases.batch
        publish = phases.publish
        for name, secs in [("read_unpublished (one SELECT, wire JSON built by PostgreSQL; overlaps publishing)", phases.read),
                           ("publish (atomic batch) + wait for its ack", publish),
                           ("save_checkpoint (1 commit per batch; overlaps publishing)", phases.checkpoint),
                           ("outside publish_once: connect, ensure_stream, idle", other)]:
            phase_rows.append([name, secs, secs / total * 100, secs / n * 1e6])
        print(f"  relay alone: {relay_rate:,.0f}/s ({phases.batches} batches)", flush=True)

        # --- end to end: relay + consumer -------------------------------------------------
        await fresh_stream(ns.url, settings)
        await reset_checkpoint(url)
        store = EventStore.connect(url, SCHEMA)
        consumer_store = EventStore.connect(url, CONSUMER.value)
        handled = 0

        async def trivial(_envelope, _tx) -> None:
            nonlocal handled
            handled += 1

        consumer = Consumer("bench", "success.*.*.*", trivial, batch=True)
        broker = NatsBroker(ns.url, logger=None)
        runner = ConsumerRunner(CONSUMER, consumer, consumer_store, broker, settings)
        runner.subscribe()
        labels = {"service": CONSUMER.value, "consumer": runner.durable,
                  "outcome": "processed"}

        def processed_total() -> float:
            # The runner's own counter, incremented after each event's transaction committed
            # (read from this one metric: REGISTRY.get_sample_value would collect them all).
            for family in EVENTS_HANDLED.collect():
                for sample in family.samples:
                    if sample.name.endswith("_total") and sample.labels == labels:
                        return sample.value
            return 0.0

        base = processed_total()

        def committed() -> int:
            return int(processed_total() - base)

        await broker.start()  # untimed: connect and create the durable consumer
        relay = OutboxRelay(store, ns.url, settings)
        c0 = cpu.sample()
        t0 = time.perf_counter()
        task = asyncio.create_task(relay.run())
        relay_done = asyncio.create_task(until(lambda: relay.published >= n, args.timeout))
        t2 = await until(lambda: committed() >= n, args.timeout, interval=0.01)
        c2 = cpu.sample()
        t1 = await relay_done
        relay.stop()
        await asyncio.wait_for(task, 30)
        await broker.stop()
        await store.dispose()
        await consumer_store.dispose()
        if committed() != n or handled != n:
            raise RuntimeError(f"consumer committed {committed()}, handled {handled} of {n}")
        e2e_relay = n / (t1 - t0)
        ratio = e2e_relay / raw_rate
        rows.append(["OutboxRelay, consumer running (until published == N)", t1 - t0,
                     e2e_relay, ratio, f">= {TARGET} {verdict(ratio, TARGET)}", "", "", ""])
        e2e = n / (t2 - t0)
        ratio = e2e / raw_rate
        rows.append(["end to end: relay -> JetStream -> consumer committed N", t2 - t0, e2e,
                     ratio, f">= {TARGET} {verdict(ratio, TARGET)}", *_cpu(c0, c2, n)])
        print(f"  end to end: {e2e:,.0f}/s (relay {e2e_relay:,.0f}/s meanwhile)", flush=True)

        # --- end to end, consumer in its own process (as deployed) ----------------------
        # Its runs alternated with the ceiling's (above), best of each.
        secs, (c0, c3) = apart
        e2e_apart = n / secs
        ratio = e2e_apart / raw_rate
        rows.append([f"end to end, consumer in its own process (as deployed, best of "
                     f"{args.raw_repeat})", secs, e2e_apart,
                     ratio, f">= {TARGET} {verdict(ratio, TARGET)}", "", "", ""])
        apart_cpu = _cpu(c0, c3, n)  # relay process, PostgreSQL, nats-server, consumer
        print("  end to end, consumer apart: {:,.0f}/s (CPU µs/ev: relay process {:.0f}, "
              "PostgreSQL {:.0f}, nats-server {:.0f}, consumer process {:.0f})".format(
                  e2e_apart, *apart_cpu), flush=True)

    print_table(
        f"Outbox -> JetStream -> consumer ({n:,} events of {size:.0f} B, events/s; ratios "
        "against the raw ceiling)",
        ["measure", "seconds", "ev/s", "x raw", "target", "cli µs/ev", "pg µs/ev",
         "nats µs/ev"],
        rows,
    )
    print_table("Relay-alone time by phase (wall clock, inside OutboxRelay.run; reads and "
                "checkpoints overlap publishing, so the rows add up to more than the run)",
                ["phase", "seconds", "% of run", "µs/ev"], phase_rows)
    print("cli/pg/nats µs/ev: CPU time (user+sys) per event of this Python process (relay and "
          "consumer share its one event loop) / PostgreSQL / nats-server (2 cores in all)")
    print("consumer in its own process, CPU µs/ev: relay process {:.0f}, PostgreSQL {:.0f}, "
          "nats-server {:.0f}, consumer process {:.0f}".format(*apart_cpu))
    print(f"peak RSS (this process): {peak_rss_mb():.0f} MiB")
    if args.profile_consumer:
        stats = pstats.Stats(args.profile_consumer)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


async def consumer_apart(args, pg, ns, url: str, settings: Settings, n: int,
                         profile: bool) -> tuple[float, tuple]:
    """Relay here, consumer in its own process: seconds from relay start until the consumer
    committed all N, and CPU samples (this process, PostgreSQL, nats-server, the consumer)
    at both ends."""
    await fresh_stream(ns.url, settings)
    await reset_checkpoint(url)
    counter = await asyncpg.connect(raw_database_url(url))
    durable = f"{CONSUMER.value}-bench-proc"
    await counter.execute(f"DELETE FROM {CONSUMER.value}.processed_events WHERE consumer = $1",
                          durable)  # an earlier run's
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_consumer_proc.py")), ns.url, url,
         CONSUMER.value, str(settings.consumer_batch_size),
         *([args.profile_consumer] if args.profile_consumer and profile else [])],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        cpu = Cpu(pg.process.pid, ns.process.pid)
        consumer = psutil.Process(proc.pid)
        count_sql = (f"SELECT count(*) FROM {CONSUMER.value}.processed_events "
                     f"WHERE consumer = '{durable}'")
        done = 0

        async def poll() -> None:
            nonlocal done
            while done < n:
                done = await counter.fetchval(count_sql)
                await asyncio.sleep(0.01)

        store = EventStore.connect(url, SCHEMA)
        relay = OutboxRelay(store, ns.url, settings)
        c0 = (*cpu.sample(), Cpu._tree(consumer))
        t0 = time.perf_counter()
        task = asyncio.create_task(relay.run())
        await asyncio.wait_for(poll(), args.timeout)
        t3 = time.perf_counter()
        c3 = (*cpu.sample(), Cpu._tree(consumer))
        relay.stop()
        await asyncio.wait_for(task, 30)
        await store.dispose()
    finally:
        await counter.close()
        proc.terminate()
        proc.wait(30)
    return t3 - t0, (c0, c3)


def _cpu(c0: tuple[float, ...], c1: tuple[float, ...], n: int) -> list[float]:
    return [(b - a) / n * 1e6 for a, b in zip(c0, c1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Events/s through outbox -> JetStream -> consumer vs raw nats-py "
        "publishing of the same messages, on private durable PostgreSQL/NATS servers.")
    parser.add_argument("--events", type=int, default=20_000,
                        help="events pre-filled and relayed (default 20000)")
    parser.add_argument("--batch-size", type=int, default=Settings().relay_batch_size,
                        help="relay batch size, also the raw publish window "
                        "(default: Settings().relay_batch_size)")
    parser.add_argument("--prefill-batch", type=int, default=10,
                        help="events per append when pre-filling (default 10)")
    parser.add_argument("--prefill-writers", type=int, default=8,
                        help="concurrent writers when pre-filling (default 8)")
    parser.add_argument("--raw-repeat", type=int, default=2,
                        help="raw publish runs, each into a fresh stream, alternated with as "
                        "many end to end runs with the consumer in its own process; best of "
                        "each kept (default 2)")
    parser.add_argument("--timeout", type=float, default=300,
                        help="give up a measurement after this many seconds (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the servers' data directory")
    parser.add_argument("--profile-consumer", metavar="FILE",
                        help="run the separate consumer process under cProfile, write its "
                        "statistics to FILE and print the costliest functions (slows it)")
    args = parser.parse_args()
    started = time.perf_counter()
    print("load average before:", _load_average(), flush=True)
    asyncio.run(measure(args))
    print("load average after:", _load_average())
    print(f"total {time.perf_counter() - started:.0f} s")


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
