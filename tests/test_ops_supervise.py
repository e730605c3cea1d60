"""`success up` supervises its servers and services: real processes, real faults.

SIGKILLed NATS or PostgreSQL come back on the same port and the system recovers; a service
that cannot start gives up with a French message; a taken default port is reported."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
import structlog

from services.common.embedded import PostgresServer, free_port, pid_alive
from services.common.stack import StackState
from services.common.supervisor import MAX_ATTEMPTS, STABLE_SECONDS, GaveUp, Restarts
from tests.conftest import server_dir
from tests.test_walking_skeleton import report, unique_mentee, wait_for_report


# -- the restart policy, pure -------------------------------------------------------------

@pytest.mark.parametrize(("stops_at", "pauses"), [
    # given stops at these instants (the process was started at 0 and after each pause),
    # then these pauses before the next attempt
    ([1.0], [0.5]),
    ([1.0, 2.0, 4.0, 7.0, 12.0], [0.5, 1.0, 2.0, 4.0, 8.0]),
    # up long enough between two stops: counted as a first failure again
    ([1.0, 1.0 + STABLE_SECONDS + 1, 1.0 + 2 * STABLE_SECONDS + 2], [0.5, 0.5, 0.5]),
])
def test_restarts_back_off(stops_at, pauses):
    restarts = Restarts("intake")
    got = []
    started = 0.0
    for now in stops_at:
        restarts.started(started)
        got.append(restarts.stopped(now))
        assert not restarts.due(now) and restarts.due(now + got[-1])
        started = now + got[-1]
    assert got == pauses


def test_restarts_give_up_after_max_attempts():
    restarts = Restarts("NATS")
    for attempt in range(MAX_ATTEMPTS):
        restarts.stopped(float(attempt))  # failed starts in a row
    with pytest.raises(GaveUp, match=f"NATS : {MAX_ATTEMPTS} tentatives de redémarrage"):
        restarts.stopped(float(MAX_ATTEMPTS))


def test_only_the_locks_of_a_dead_postmaster_are_cleared(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process
    server = PostgresServer(tmp_path / "pg", port=free_port())
    server.data_dir.mkdir()
    pid_file, socket_lock = (server.data_dir / "postmaster.pid",
                             server.data_dir / f".s.PGSQL.{server.port}.lock")
    for holder in (os.getpid(), dead.pid):
        pid_file.write_text(f"{holder}\n{server.data_dir}\n")
        socket_lock.write_text(f"{holder}\n")
        cleared = server.clear_stale_locks()
        if holder == os.getpid():  # alive: PostgreSQL's interlock stands
            assert cleared == [] and pid_file.exists() and socket_lock.exists()
        else:
            assert set(cleared) == {pid_file, socket_lock}
            assert not pid_file.exists() and not socket_lock.exists()


# -- `success up`, faults injected --------------------------------------------------------

def start_up(data_dir: Path, console: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    env.update(SUCCESS_LOG_JSON="true", COLUMNS="400")  # one console message, one line
    with console.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data_dir), "--fresh",
             *args], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)


def wait_ready(process: subprocess.Popen) -> None:
    for line in process.stdout:  # type: ignore[union-attr]
        if line.startswith("READY"):
            return
    raise AssertionError(f"success up exited with {process.wait()} before being ready")


def eventually(check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {check}")
        time.sleep(0.2)


def hold_port(port: int) -> socket.socket | None:
    """A listening socket on ``port``; None when another program holds it already."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock


@pytest.fixture(scope="module")
def supervised():
    """`success up` started while reporting's default port (8104) is taken."""
    held = hold_port(8104)
    with server_dir("supervise") as path:
        console = path / "console.txt"
        process = start_up(path / "data", console)
        try:
            wait_ready(process)
            yield process, path / "data", console
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(120)
            if held is not None:
                held.close()


def restarted_pid(data_dir: Path, server: str, old_pid: int) -> int | None:
    """The server's pid in stack.json once it is no longer ``old_pid``."""
    state = StackState.read(data_dir)  # None while being rewritten
    pid = state.servers.get(server) if state is not None else None
    return pid if pid not in (None, old_pid) else None


def all_ready(data_dir: Path) -> bool:
    state = StackState.read(data_dir)
    if state is None:
        return False
    try:
        return all(httpx.get(f"{url}/readyz", timeout=2).status_code == 200
                   for url in state.services.values())
    except httpx.HTTPError:
        return False


def no_zombie_children(process: subprocess.Popen) -> bool:
    return not [child for child in psutil.Process(process.pid).children()
                if child.status() == psutil.STATUS_ZOMBIE]


def an_application_is_counted(data_dir: Path) -> None:
    before = report(data_dir)["totals"]["applications_mentees"]
    intake = StackState.read(data_dir).services["intake"]
    answer = eventually(lambda: _post_mentee(intake))
    assert answer.status_code == 201, answer.text
    wait_for_report(data_dir, lambda r: r["totals"]["applications_mentees"] == before + 1,
                    timeout=120)


def _post_mentee(intake: str) -> httpx.Response | None:
    try:
        return httpx.post(f"{intake}/applications/mentee", json=unique_mentee(), timeout=10)
    except httpx.HTTPError:
        return None


def test_a_taken_default_port_is_reported_with_the_address_used(supervised):
    process, data_dir, console = supervised
    used = StackState.read(data_dir).services["reporting"]
    assert urlsplit(used).port != 8104
    text = console.read_text()
    assert (f"Attention : le port 8104 (reporting) est déjà pris ; reporting écoute sur {used}"
            in text)
    assert used in text.split("Succ'ess est démarré", 1)[1]  # the summary's addresses


def test_a_killed_nats_server_is_restarted_and_the_system_recovers(supervised):
    process, data_dir, console = supervised
    state = StackState.read(data_dir)
    old_pid, port = state.servers["nats"], urlsplit(state.nats_url).port
    assert psutil.Process(old_pid).name() == "nats-server"

    os.kill(old_pid, signal.SIGKILL)
    new_pid = eventually(lambda: restarted_pid(data_dir, "nats", old_pid))
    assert urlsplit(StackState.read(data_dir).nats_url).port == port
    text = console.read_text()
    assert f"NATS s'est arrêté (code -9) : redémarrage sur le port {port}" in text
    assert f"NATS redémarré (processus {new_pid}, port {port})" in text
    assert no_zombie_children(process) and not pid_alive(old_pid)
    eventually(lambda: all_ready(data_dir))
    an_application_is_counted(data_dir)


def test_a_killed_postmaster_is_restarted_on_its_port(supervised):
    process, data_dir, console = supervised
    state = StackState.read(data_dir)
    old_pid, port = state.servers["postgres"], urlsplit(state.database_url).port
    pid_file = data_dir / "postgres" / "postmaster.pid"
    assert int(pid_file.read_text().split()[0]) == old_pid

    os.kill(old_pid, signal.SIGKILL)
    new_pid = eventually(lambda: restarted_pid(data_dir, "postgres", old_pid))
    assert urlsplit(StackState.read(data_dir).database_url).port == port
    assert int(pid_file.read_text().split()[0]) == new_pid  # the stale lock files replaced
    socket_lock = data_dir / "postgres" / f".s.PGSQL.{port}.lock"
    assert int(socket_lock.read_text().split()[0]) == new_pid
    text = console.read_text()
    assert f"PostgreSQL s'est arrêté (code -9) : redémarrage sur le port {port}" in text
    assert f"PostgreSQL redémarré (processus {new_pid}, port {port})" in text
    assert no_zombie_children(process) and not pid_alive(old_pid)
    eventually(lambda: all_ready(data_dir))
    an_application_is_counted(data_dir)


def test_a_service_that_cannot_bind_its_port_gives_up(data_dir: Path):
    port = free_port()
    held = hold_port(port)
    assert held is not None
    console = data_dir.parent / "console.txt"
    try:
        process = start_up(data_dir, console, "--port", f"intake={port}")
        process.stdout.read()  # type: ignore[union-attr]  # until `success up` exits
        assert process.wait(300) == 1
    finally:
        held.close()
    text = console.read_text()
    assert f"Attention : le port {port} de intake est pris par un autre programme." in text
    for attempt in range(1, MAX_ATTEMPTS + 1):  # uvicorn exits with code 3
        assert re.search(rf"intake s'est arrêté \(code \d+\) : redémarrage sur le port {port} "
                         rf"dans [\d,]+ s \(tentative {attempt}/{MAX_ATTEMPTS}\)", text)
    assert (f"Démarrage impossible : intake : {MAX_ATTEMPTS} tentatives de redémarrage ont "
            f"échoué, abandon ; le port {port} est pris par un autre programme." in text)
    assert "Tout est arrêté." in text
    commands = [" ".join(p.info["cmdline"] or ()) for p in psutil.process_iter(["cmdline"])]
    assert not any(str(data_dir) in c for c in commands), "a child outlived `success up`"


@contextmanager
def cli_in_this_process() -> Iterator[None]:
    """A command run in the test's process configures logging on CliRunner's streams (closed
    afterwards) and may set the umask: give later tests theirs back."""
    structlog_config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        yield
    finally:
        structlog.configure(**structlog_config)
        root.handlers[:] = handlers
        root.setLevel(level)
        os.umask(umask)


@pytest.mark.parametrize(("option", "message"), [
    ("nowhere=9101", "service inconnu"),
    ("intake=x", "le port doit être un nombre entre 1 et 65535"),
    ("intake=70000", "le port doit être un nombre entre 1 et 65535"),
])
def test_a_wrong_port_option_is_refused_before_anything_starts(tmp_path, option, message):
    from typer.testing import CliRunner

    from services.cli import app

    with cli_in_this_process():
        result = CliRunner().invoke(app, ["up", "--data-dir", str(tmp_path / "data"),
                                          "--port", option], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "data").exists()
