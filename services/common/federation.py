"""NATS configuration for federation: one user per region, one for our own services.

Everything lives in one NATS account (``SUCCESS``, JetStream enabled) holding two streams
(see :mod:`services.common.bus`): ``success``, our services' events and dead letters, and
``success-partners``, what regions publish, bounded; isolation comes from each user's
permissions (allow-lists only: anything not listed is refused).

A region ``R`` may:

- **publish** only on its partner subjects ``success.R.partner.>`` (stored in
  ``success-partners``, an untrusted input nothing of ours folds), never on those of our
  services (``success.R.intake.>``, ``success.R.matching.>``…, also denied explicitly): a
  region cannot impersonate our services;
- **subscribe** only to its own subjects ``success.R.>``, to the *shared* subjects, and to
  its own inbox prefix ``_INBOX_R.>`` (never ``_INBOX.>``, where our services' JetStream
  deliveries travel);
- use JetStream through **its own durable consumers only**, named ``r-<name>`` for the names
  given (default ``events`` and ``pairs``: ``bre-events``, ``bre-pairs``), created with a
  single filter subject inside what it may read (the filter is part of the API subject
  ``$JS.API.CONSUMER.CREATE.<stream>.<consumer>.<filter>`` since NATS 2.10, and the server
  checks that it matches the consumer's configuration). Reading stream messages directly
  (``STREAM.MSG.GET``, ``DIRECT.GET``), stream and account information (``STREAM.INFO``,
  ``STREAM.LIST``, ``STREAM.NAMES``, ``INFO``: they reveal every subject of our stream and its
  message counts), listing or touching other consumers, and managing streams are refused.

**Shared subjects** (:data:`SHARED_SUBJECTS`): the matching service's events of every region,
``success.*.matching.>`` — cohorts opened and launched, proposals, pairs formed and ended,
rematches. They carry only pseudonymous ids (``person_id``, ``pair_id``), scores and coarse
attributes, so any region may follow the pairs formed elsewhere. Intake events (age bands,
départements, channels per applicant) and follow-up events stay with their region.

Passwords are random, stored bcrypt-hashed in the server configuration, in clear only in each
credential file (mode 600). Regenerating keeps existing credentials unless rotated.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from events import EVENT_STREAM_NAME, Service
from events.base import SUBJECT_PREFIX, partner_subjects

ACCOUNT = "SUCCESS"
SERVICES_USER = "services"
SHARED_SUBJECTS = (f"{SUBJECT_PREFIX}.*.matching.>",)
DEFAULT_CONSUMER_NAMES = ("events", "pairs")
_REGION = re.compile(r"^[A-Z]{3}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
CONFIG_FILE = "nats-server.conf"
ACCOUNTS_FILE = "accounts.conf"
CREDENTIALS_DIR = "credentials"
SERVICES_ENV = "services.env"


class FederationError(ValueError):
    """A wrong argument: the message says what to give instead."""


@dataclass
class Credential:
    """What a region (or our services) needs to connect: one JSON file each."""

    user: str
    password: str
    region: str | None = None
    url: str = "nats://127.0.0.1:4222"
    inbox_prefix: str = "_INBOX"
    consumer_names: list[str] = field(default_factory=list)
    stream: str = EVENT_STREAM_NAME
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)
    publish_deny: list[str] = field(default_factory=list)

    def connect_options(self) -> dict:
        """Keyword arguments for ``nats.connect``."""
        return {"servers": [self.url], "user": self.user, "password": self.password,
                "inbox_prefix": self.inbox_prefix}

    def url_with_password(self) -> str:
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{self.user}:{self.password}@{rest}"

    @classmethod
    def read(cls, path: Path) -> Credential:
        return cls(**json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
            handle.write("\n")


def parse_regions(value: str) -> list[str]:
    regions = [code.strip().upper() for code in value.split(",") if code.strip()]
    bad = [code for code in regions if not _REGION.match(code)]
    if not regions or bad:
        raise FederationError(
            f"régions invalides {bad or value!r} : donnez des codes de trois lettres séparés "
            "par des virgules, par exemple --regions IDF,BRE,OCC.")
    if len(set(regions)) != len(regions):
        raise FederationError("une région est répétée dans --regions : donnez chaque code une fois.")
    return regions


def consumer_names(region: str, names: tuple[str, ...] | list[str]) -> list[str]:
    for name in names:
        if not _NAME.match(name):
            raise FederationError(
                f"nom de consommateur invalide {name!r} : lettres minuscules, chiffres, - ou _.")
    return [f"{region.lower()}-{name}" for name in names]


def readable_subjects(region: str) -> list[str]:
    return [f"{SUBJECT_PREFIX}.{region}.>", *SHARED_SUBJECTS]


def region_permissions(region: str, names: list[str]) -> dict[str, list[str]]:
    """Publish and subscribe allow-lists of a region (see the module documentation)."""
    api = "$JS.API"
    stream = EVENT_STREAM_NAME
    publish = [partner_subjects(region)]  # no stream, account or consumer listings
    for name in names:
        publish += [f"{api}.CONSUMER.CREATE.{stream}.{name}.{subject}"
                    for subject in readable_subjects(region)]
        publish += [f"{api}.CONSUMER.INFO.{stream}.{name}",
                    f"{api}.CONSUMER.DELETE.{stream}.{name}",
                    f"{api}.CONSUMER.MSG.NEXT.{stream}.{name}",
                    f"$JS.ACK.{stream}.{name}.>"]
    subscribe = [*readable_subjects(region), f"{inbox_prefix(region)}.>"]
    deny = [f"{SUBJECT_PREFIX}.{region}.{service.value}.>" for service in Service]
    return {"publish": publish, "subscribe": subscribe, "publish_deny": deny}


def inbox_prefix(region: str) -> str:
    return f"_INBOX_{region}"


def _hash(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def _quoted(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def render_accounts(credentials: list[Credential]) -> str:
    lines = [
        "# Generated by `success nats-config`: accounts, users and permissions.",
        "# Passwords are bcrypt hashes; clear ones are in credentials/*.json only.",
        "accounts {",
        f"  {ACCOUNT} {{",
        "    jetstream: enabled",
        "    users: [",
    ]
    for credential in credentials:
        lines.append(f"      # {credential.region or 'our own services: every subject'}")
        lines.append("      {")
        lines.append(f"        user: {json.dumps(credential.user)}")
        lines.append(f"        password: {json.dumps(_hash(credential.password))}")
        if credential.region:
            lines.append("        permissions: {")
            lines.append(f"          publish: {{ allow: {_quoted(credential.publish)}, "
                         f"deny: {_quoted(credential.publish_deny)} }}")
            lines.append(f"          subscribe: {{ allow: {_quoted(credential.subscribe)} }}")
            lines.append("        }")
        lines.append("      }")
    lines += ["    ]", "  }", "}", ""]
    return "\n".join(lines)


def render_server(store_dir: str, server_name: str) -> str:
    return "\n".join([
        "# Generated by `success nats-config`: the NATS server of Succ'ess (JetStream).",
        f"server_name: {json.dumps(server_name)}",
        'listen: "0.0.0.0:4222"',
        'http: "0.0.0.0:8222"  # monitoring: /healthz?js-enabled-only=true, /varz, /jsz',
        "jetstream {",
        f"  store_dir: {json.dumps(store_dir)}",
        "  # fsync every write before acknowledging it (the default syncs every 2 minutes)",
        "  sync_interval: always",
        "}",
        f'include "{ACCOUNTS_FILE}"',
        "",
    ])


def _existing(path: Path) -> Credential | None:
    try:
        return Credential.read(path)
    except (OSError, ValueError, TypeError):
        return None


def write_nats_config(
    out: Path,
    regions: list[str],
    *,
    url: str = "nats://127.0.0.1:4222",
    names: tuple[str, ...] | list[str] = DEFAULT_CONSUMER_NAMES,
    rotate: list[str] | None = None,
    store_dir: str = "/data",
    server_name: str = "success-nats",
) -> list[Path]:
    """Write the server configuration, the accounts and one credential per region (plus our
    services'). Existing credentials in ``out`` keep their password unless listed in
    ``rotate`` (region codes, ``services``, or ``all``)."""
    rotate_set = {r.strip().upper() for r in rotate or []}
    unknown = rotate_set - {*regions, "SERVICES", "ALL"}
    if unknown:
        raise FederationError(
            f"--rotate {', '.join(sorted(unknown))} : ni une région de --regions, ni "
            "`services`, ni `all`.")
    out.mkdir(parents=True, exist_ok=True)
    creds_dir = out / CREDENTIALS_DIR
    credentials: list[Credential] = []
    for key in ["SERVICES", *regions]:
        region = None if key == "SERVICES" else key
        path = creds_dir / (f"{SERVICES_USER}.json" if region is None else f"{region}.json")
        previous = _existing(path)
        keep = previous is not None and key not in rotate_set and "ALL" not in rotate_set
        password = previous.password if keep and previous else secrets.token_urlsafe(24)
        if region is None:
            credential = Credential(user=SERVICES_USER, password=password, url=url,
                                    publish=[">"], subscribe=[">"])
        else:
            durable = consumer_names(region, names)
            permissions = region_permissions(region, durable)
            credential = Credential(
                user=f"region-{region.lower()}", password=password, region=region, url=url,
                inbox_prefix=inbox_prefix(region), consumer_names=durable, **permissions)
        credential.write(path)
        credentials.append(credential)
    written = [creds_dir / p.name for p in sorted(creds_dir.glob("*.json"))]
    (out / ACCOUNTS_FILE).write_text(render_accounts(credentials))
    os.chmod(out / ACCOUNTS_FILE, 0o644)
    (out / CONFIG_FILE).write_text(render_server(store_dir, server_name))
    env = out / SERVICES_ENV
    fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Generated by `success nats-config`: our services' NATS credential.\n")
        handle.write(f"SUCCESS_NATS_URL={credentials[0].url_with_password()}\n")
    return [out / CONFIG_FILE, out / ACCOUNTS_FILE, env, *written]
