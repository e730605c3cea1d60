"""Where the servers are: the environment, or the embedded stack started by ``success up``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import platformdirs

from services.common.private import write_private
from services.common.settings import Settings

STATE_FILE = "stack.json"


def default_data_dir() -> Path:
    return Path(os.environ.get("SUCCESS_DATA_DIR") or platformdirs.user_data_dir("success"))


@dataclass
class StackState:
    nats_url: str
    database_url: str
    services: dict[str, str] = field(default_factory=dict)  # service -> base URL
    pid: int = 0  # the supervisor
    pids: dict[str, int] = field(default_factory=dict)  # service -> its process
    # Embedded server -> its process ("nats", "postgres": the postmaster); empty for servers
    # named in the environment, which are not ours.
    servers: dict[str, int] = field(default_factory=dict)
    smtp: str = ""  # "host:port" of the local mail catcher, when `success up` runs one

    def write(self, data_dir: Path) -> None:
        # Mode 600: the URLs carry the embedded servers' passwords. Replaced whole: rewritten
        # at each restart, it is never seen half-written by a command reading it.
        draft = data_dir / f"{STATE_FILE}.new"
        write_private(draft, json.dumps(asdict(self), indent=2))
        os.replace(draft, data_dir / STATE_FILE)

    @classmethod
    def read(cls, data_dir: Path) -> StackState | None:
        try:
            return cls(**json.loads((data_dir / STATE_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None


class NoServerConfigured(RuntimeError):
    pass


def resolve_urls(settings: Settings, data_dir: Path | None = None) -> tuple[str, str]:
    """(nats_url, database_url): from SUCCESS_* variables, else from a running ``success up``."""
    nats_url, database_url = settings.nats_url, settings.database_url
    if nats_url and database_url:
        return nats_url, database_url
    state = StackState.read(data_dir or default_data_dir())
    if state is None:
        raise NoServerConfigured(
            "Aucun serveur configuré : lancez d'abord `success up` dans un autre terminal, ou "
            "définissez SUCCESS_NATS_URL et SUCCESS_DATABASE_URL."
        )
    return nats_url or state.nats_url, database_url or state.database_url
