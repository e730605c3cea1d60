"""A nats-server running the configuration `success nats-config` writes, and connections
with its credentials that collect permission violations."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from services.common.embedded import NatsServer
from services.common.federation import Credential
from tests.conftest import eventually, server_dir

REGIONS = ["IDF", "BRE", "OCC"]


@pytest.fixture(scope="module")
def federated() -> Iterator[tuple[NatsServer, Path]]:
    """nats-server started with the configuration `success nats-config` wrote."""
    with server_dir("federation") as path:
        out = path / "conf"
        subprocess.run(
            [sys.executable, "-m", "services.cli", "nats-config", "--regions", ",".join(REGIONS),
             "--out", str(out), "--store-dir", str(path / "jetstream")],
            check=True, capture_output=True)
        server = NatsServer(path / "nats", config_file=out / "nats-server.conf").start()
        yield server, out
        server.stop()


def credential(federated, who: str) -> Credential:
    server, out = federated
    found = Credential.read(out / "credentials" / f"{who}.json")
    found.url = server.url
    return found


class Connection:
    """A connection with a credential; permission violations (delivered asynchronously by
    the server) are collected, and ``flush`` makes sure every earlier one has arrived."""

    def __init__(self, cred: Credential) -> None:
        self.cred = cred
        self.errors: list[str] = []
        self.nc = None

    async def __aenter__(self) -> Connection:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc).lower())

        self.nc = await nats.connect(**self.cred.connect_options(), error_cb=on_error,
                                     allow_reconnect=False)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.nc.close()

    async def violations(self, expected: int = 0) -> list[str]:
        """The violations reported since the last call, once ``expected`` of them came."""
        await self.nc.flush()
        await eventually(lambda: len(self.errors) >= expected)
        found, self.errors = [e for e in self.errors if "permissions violation" in e], []
        return found




async def prepare_stream(federated) -> None:
    from services.common import bus
    from services.common.settings import Settings

    async with Connection(credential(federated, "services")) as services:
        await bus.ensure_stream(services.nc, Settings())
