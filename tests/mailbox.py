"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, for the tests."""

from __future__ import annotations

import asyncio
import email
import socket
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_socket() -> socket.socket:
    """A loopback socket listening now on a port of its own, for a server started later.
    A port from :func:`free_port` is free only until something else binds it: an outgoing
    connection's ephemeral port may take it before the server starts."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class Mailbox:
    """Accepts every message; ``hold()`` makes it stall before answering DATA, like a slow
    server, so a test can kill the sender mid-send (nothing is accepted then)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self._release: asyncio.Event | None = None
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.stalled = 0  # DATA commands currently held

    def start(self) -> "Mailbox":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def hold(self) -> None:
        self._release = asyncio.Event()

    def release(self) -> None:
        if self._release is not None:
            self._controller.loop.call_soon_threadsafe(self._release.set)
        self._release = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        if self._release is not None:
            self.stalled += 1
            try:
                await self._release.wait()
            finally:
                self.stalled -= 1
            if session.transport is None or session.transport.is_closing():
                return "421 connection lost, message not accepted"
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]

    def settings_update(self) -> dict:
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port}
