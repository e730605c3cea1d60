"""Another region follows the pairs formed in the programme (``PairFormed`` events).

Needs only the contract package and nats-py::

    pip install ./events nats-py
    python examples/region_subscriber.py --credentials BRE.json
    python examples/region_subscriber.py --server nats://127.0.0.1:4222 --count 10 --json

``--credentials`` is the file ``success nats-config`` wrote for your region
(``credentials/<R>.json``): server URL, user, password, inbox prefix and the durable consumer
names you may use. The consumer is **durable**: stop the script and start it again, it goes on
where it stopped (each event is acknowledged after it was handled). Events of an older schema
version are upcast by ``load_event``; an event that cannot be read is reported and
terminated (it will not come back), the others go on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from events import EVENT_STREAM_NAME, MalformedEvent, load_event
from events.matching import PairFormed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Suivre les binômes formés (événements PairFormed) d'une ou de toutes les "
        "régions, avec un consommateur durable JetStream.")
    parser.add_argument("--credentials", help="fichier d'identifiant de votre région "
                        "(credentials/<R>.json écrit par `success nats-config`)")
    parser.add_argument("--server", help="URL du serveur NATS (défaut : celle de l'identifiant, "
                        "sinon nats://127.0.0.1:4222)")
    parser.add_argument("--region", default="*", help="région dont suivre les binômes "
                        "(défaut : * = toutes)")
    parser.add_argument("--durable", help="nom du consommateur durable (défaut : le "
                        "consommateur « pairs » de l'identifiant, sinon region-pairs)")
    parser.add_argument("--count", type=int, default=0,
                        help="s'arrêter après ce nombre d'événements (0 : jamais)")
    parser.add_argument("--idle-exit", type=float, default=0,
                        help="s'arrêter après ce nombre de secondes sans événement (0 : jamais)")
    parser.add_argument("--json", action="store_true", help="une ligne JSON par événement")
    return parser.parse_args(argv)


def connection_options(args: argparse.Namespace) -> tuple[dict, str]:
    options: dict = {"servers": [args.server or "nats://127.0.0.1:4222"]}
    durable = args.durable or "region-pairs"
    if args.credentials:
        with open(args.credentials, encoding="utf-8") as handle:
            cred = json.load(handle)
        options = {"servers": [args.server or cred["url"]], "user": cred["user"],
                   "password": cred["password"], "inbox_prefix": cred["inbox_prefix"]}
        if not args.durable:
            names = [n for n in cred.get("consumer_names", []) if n.endswith("-pairs")]
            durable = names[0] if names else durable
    return options, durable


def describe(event) -> str:
    pair: PairFormed = event.data
    return (f"{event.occurred_at:%Y-%m-%d %H:%M} {event.region} cohorte {pair.cohort_id} : "
            f"binôme {pair.pair_id} (jeune {pair.mentee_id}, mentor {pair.mentor_id}, "
            f"{pair.origin.value})")


async def follow(args: argparse.Namespace) -> int:
    options, durable = connection_options(args)
    nc = await nats.connect(**options)
    seen = 0
    try:
        js = nc.jetstream()
        subject = f"success.{args.region}.matching.PairFormed"
        subscription = await js.pull_subscribe(
            subject, durable=durable, stream=EVENT_STREAM_NAME,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                                  ack_wait=30, max_ack_pending=1000))
        idle = 0.0
        while not args.count or seen < args.count:
            want = min(100, args.count - seen) if args.count else 100
            try:
                messages = await subscription.fetch(want, timeout=1.0)
            except NatsTimeout:
                idle += 1.0
                if args.idle_exit and idle >= args.idle_exit:
                    break
                continue
            idle = 0.0
            for message in messages:
                try:
                    event = load_event(message.data)
                except MalformedEvent as exc:
                    print(f"événement illisible sur {message.subject} : {exc.reason}",
                          file=sys.stderr)
                    await message.term()
                    continue
                if args.json:
                    print(json.dumps({"event_id": str(event.event_id), "region": event.region,
                                      **event.data.model_dump(mode="json")}), flush=True)
                else:
                    print(describe(event), flush=True)
                await message.ack_sync()  # handled: do not send it again
                seen += 1
    finally:
        await nc.close()
    print(f"{seen} binôme(s) reçu(s) par le consommateur {durable}.", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(follow(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
