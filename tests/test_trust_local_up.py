"""`success up` on a shared machine: its servers ask for passwords, its files are its user's
only, and its console shows no token."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import stat
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from events import EVENT_STREAM_NAME
from services.common.mailcatcher import MailCatcher
from services.common.stack import StackState
from tests.conftest import server_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_directory(path: Path) -> None:
    if os.geteuid() == 0:  # as root, PostgreSQL's own OS user may pass through (group, x)
        assert mode(path) in (0o700, 0o710), oct(mode(path))
    else:
        assert mode(path) == 0o700, oct(mode(path))


@pytest.fixture
def earlier_data_dir(data_dir: Path) -> Path:
    """A data directory as an earlier version left it: readable by everyone."""
    (data_dir / "mail").mkdir(parents=True, mode=0o755)
    data_dir.chmod(0o755)
    for name in ("intake.log", "mail/20260101-000000-00001.eml"):
        (data_dir / name).write_text("Bonjour Zoé, 12 rue des Lilas")
        (data_dir / name).chmod(0o644)
    return data_dir


@pytest.fixture
def up(earlier_data_dir: Path):
    """`success up` (no --fresh: the earlier files are kept), its whole console captured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
    env["SUCCESS_LOG_JSON"] = "true"
    console = earlier_data_dir.parent / "console.txt"
    with open(console, "w") as captured_stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(earlier_data_dir)],
            stdout=subprocess.PIPE, stderr=captured_stderr, text=True, env=env)
        stdout = []
        for line in process.stdout:  # type: ignore[union-attr]
            stdout.append(line)
            if line.startswith("READY"):
                break
        else:
            raise AssertionError(f"success up exited with {process.wait()}: "
                                 f"{console.read_text()}")
        try:
            yield earlier_data_dir, "".join(stdout), console
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def test_success_up_keeps_its_files_private_and_prints_no_token(up):
    data_dir, stdout, console = up
    backoffice = next(line.split(" ", 1)[1].strip() for line in stdout.splitlines()
                      if line.startswith("BACKOFFICE "))
    signin = httpx.get(f"{backoffice}/connexion", timeout=30)
    assert signin.status_code == 200 and "Connexion" in signin.text
    for shown in (stdout, console.read_text()):
        assert "jeton=" not in shown and "Bearer" not in shown

    assert_private_directory(data_dir)
    assert_private_directory(data_dir / "mail")
    assert mode(data_dir / "nats") == 0o700
    for name in ("secrets.json", "stack.json", "intake.log", "reporting.log",
                 "mail/20260101-000000-00001.eml", "nats/nats-server.log",
                 "nats/nats-server.conf", "postgres/postgres.log"):
        assert mode(data_dir / name) == 0o600, name
    secrets = json.loads((data_dir / "secrets.json").read_text())
    state = StackState.read(data_dir)
    assert secrets["EMBEDDED_POSTGRES_PASSWORD"] in state.database_url
    assert secrets["EMBEDDED_NATS_PASSWORD"] in state.nats_url
    for password in (secrets["EMBEDDED_POSTGRES_PASSWORD"], secrets["EMBEDDED_NATS_PASSWORD"]):
        assert password not in stdout and password not in console.read_text()


async def test_the_embedded_servers_refuse_connections_without_the_password(up):
    data_dir, _, _ = up
    state = StackState.read(data_dir)
    port = state.database_url.rsplit(":", 1)[1].split("/")[0]
    for url in (f"postgresql://postgres@127.0.0.1:{port}/success",
                f"postgresql://postgres:wrong@127.0.0.1:{port}/success"):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(url)
    with pytest.raises(asyncpg.InvalidPasswordError):  # the unix socket asks for it too
        await asyncpg.connect(host=str(data_dir / "postgres"), port=int(port), user="postgres",
                              database="success")
    connection = await asyncpg.connect(state.database_url)
    assert await connection.fetchval("SELECT count(*) FROM intake.events") >= 0
    await connection.execute("CHECKPOINT")  # the server still reaches its files by their path
    await connection.close()

    nats_port = state.nats_url.rsplit(":", 1)[1]
    for url in (f"nats://127.0.0.1:{nats_port}", f"nats://success:wrong@127.0.0.1:{nats_port}"):
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, connect_timeout=5)
    client = await nats.connect(state.nats_url, allow_reconnect=False)
    assert (await client.jetstream().stream_info(EVENT_STREAM_NAME)).config.name
    await client.close()


def test_kept_emails_are_private():
    with server_dir("mail") as path:
        catcher = MailCatcher(path / "mail").start()
        try:
            message = EmailMessage()
            message["From"], message["To"] = "noreply@succes.cress.fr", "zoe@example.org"
            message["Subject"] = "Votre binôme"
            message.set_content("Bonjour Zoé, rendez-vous au 12 rue des Lilas.")
            with smtplib.SMTP(catcher.host, catcher.port) as smtp:
                smtp.send_message(message)
        finally:
            catcher.stop()
        assert mode(path / "mail") == 0o700
        kept = list((path / "mail").glob("*.eml"))
        assert len(kept) == 1 and mode(kept[0]) == 0o600
