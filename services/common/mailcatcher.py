"""The embedded system's SMTP server: ``success up`` keeps every e-mail the services send
(reminders, digests) as ``.eml`` files in ``<data dir>/mail`` instead of delivering them.
They hold first names and addresses: the directory is mode 700, each file 600."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from aiosmtpd.controller import Controller

from services.common.embedded import free_port
from services.common.private import private_directory, write_private


class MailCatcher:
    def __init__(self, directory: Path, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.host = host
        self.port = free_port()
        self._numbers = itertools.count(1)
        self._controller = Controller(self, hostname=host, port=self.port)

    def start(self) -> "MailCatcher":
        private_directory(self.directory)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{next(self._numbers):05d}.eml"
        write_private(self.directory / name, envelope.original_content or envelope.content)
        return "250 OK"
