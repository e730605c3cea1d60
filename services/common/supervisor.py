"""``success up``: the whole system on one machine, each service a separate process.

Starts PostgreSQL and NATS (unless SUCCESS_DATABASE_URL / SUCCESS_NATS_URL point elsewhere),
applies migrations, starts the four services, and on Ctrl-C or SIGTERM stops them in order:
services first (the relay finishes its batch, consumers ack what they committed), then NATS,
then PostgreSQL. Every child dies with the supervisor, even if it is SIGKILLed.

Supervision: a server or service that stops is restarted on the same port after a growing
pause, and the console says so. After MAX_ATTEMPTS failed starts in a row, ``success up``
gives up: it says why, stops everything and exits with code 1 (a half-running system whose
console looks fine is worse than a clear stop).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets as secrets_module
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from services.registry import Component
from services.common.embedded import (
    NatsServer,
    PostgresServer,
    die_with_parent,
    free_port,
    port_taken,
)
from services.common.mailcatcher import MailCatcher
from services.common.migrate import migrate
from services.common.private import narrow_tree, private_directory, open_private, write_private
from services.common.settings import Settings
from services.common.stack import STATE_FILE, StackState

console = Console(stderr=True)

SECRETS_FILE = "secrets.json"
_SERVER_LABELS = {"postgres": "PostgreSQL", "nats": "NATS"}
DEMO_ACCOUNTS_FILE = "comptes-demo.txt"
EMBEDDED_POSTGRES_PASSWORD = "EMBEDDED_POSTGRES_PASSWORD"
EMBEDDED_NATS_USER = "success"
EMBEDDED_NATS_PASSWORD = "EMBEDDED_NATS_PASSWORD"

DEFAULT_PORTS = {Component.backoffice: 8100, Component.intake: 8101, Component.matching: 8102,
                 Component.followup: 8103, Component.reporting: 8104,
                 Component.participants: 8105}


MAX_ATTEMPTS = 5  # failed starts in a row before giving up
STABLE_SECONDS = 60.0  # up this long: its next stop counts as a first failure again
_FIRST_PAUSE, _LONGEST_PAUSE = 0.5, 10.0


def _port_or_free(service: Component, host: str) -> int:
    preferred = DEFAULT_PORTS[service]
    if not port_taken(host, preferred):
        return preferred
    port = free_port()
    console.print(f"[yellow]Attention : le port {preferred} ({service.value}) est déjà pris ; "
                  f"{service.value} écoute sur http://{host}:{port}[/yellow]")
    return port


def _french_number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


class GaveUp(RuntimeError):
    """A server or service failed to start MAX_ATTEMPTS times in a row."""


@dataclass
class Restarts:
    """When to restart one supervised process, and when to give up (pure: the clock is given)."""

    label: str
    failures: int = 0
    started_at: float = 0.0
    retry_at: float | None = None  # set while the process is down

    def stopped(self, now: float) -> float:
        """Record a stop or a failed start; the pause before the next attempt, in seconds."""
        if now - self.started_at >= STABLE_SECONDS:
            self.failures = 0
        self.failures += 1
        if self.failures > MAX_ATTEMPTS:
            raise GaveUp(f"{self.label} : {MAX_ATTEMPTS} tentatives de redémarrage ont échoué, "
                         f"abandon")
        pause = min(_FIRST_PAUSE * 2 ** (self.failures - 1), _LONGEST_PAUSE)
        self.retry_at = now + pause
        return pause

    def due(self, now: float) -> bool:
        return self.retry_at is not None and now >= self.retry_at

    def started(self, now: float) -> None:
        self.started_at, self.retry_at = now, None


@dataclass
class Stack:
    data_dir: Path
    settings: Settings
    host: str = "127.0.0.1"
    postgres: PostgresServer | None = None
    nats: NatsServer | None = None
    processes: dict[Component, subprocess.Popen] = field(default_factory=dict)
    urls: dict[Component, str] = field(default_factory=dict)
    nats_url: str = ""
    database_url: str = ""
    mail: MailCatcher | None = None  # no mail server given: e-mails are kept on disk
    demo: bool = False
    digest_keys: dict[str, Path] = field(default_factory=dict)  # the demo's, by region
    ports: dict[Component, int] = field(default_factory=dict)  # asked for with --port
    restarts: dict[str, Restarts] = field(default_factory=dict)

    def start(self) -> None:
        private_directory(self.data_dir)
        narrow_tree(self.data_dir)  # what an earlier version left readable by everyone
        self.nats_url = self.settings.nats_url or ""
        self.database_url = self.settings.database_url or ""
        with console.status("Démarrage de PostgreSQL et NATS…"):
            if not self.database_url:
                self.postgres = PostgresServer(
                    self.data_dir / "postgres",
                    password=embedded_credentials(self.data_dir)[EMBEDDED_POSTGRES_PASSWORD])
                self.database_url = self.postgres.start().url
            if not self.nats_url:
                self.nats = NatsServer(
                    self.data_dir / "nats", user=EMBEDDED_NATS_USER,
                    password=embedded_credentials(self.data_dir)[EMBEDDED_NATS_PASSWORD])
                self.nats_url = self.nats.start().url
        with console.status("Migrations des schémas…"):
            asyncio.run(migrate(self.database_url))
        if self.mail is None and "SUCCESS_SMTP_HOST" not in os.environ:
            self.mail = MailCatcher(self.data_dir / "mail").start()
        for service in Component:
            port = self.ports.get(service) or _port_or_free(service, self.host)
            self.urls[service] = f"http://{self.host}:{port}"
        if self.demo:
            self._seed_demo()
            self._demo_accounts()
        env = self._service_env()
        for service in Component:
            self._warn_if_taken(service)
            self.processes[service] = self._spawn(service, self._port(service), env)
            self._restarts(service.value).started(time.monotonic())
        self._write_state()
        self._wait_ready()

    def _port(self, service: Component) -> int:
        return int(self.urls[service].rsplit(":", 1)[1])

    def _warn_if_taken(self, service: Component) -> None:
        """Ports are chosen before the demo seeds: another program may have taken one since."""
        if port_taken(self.host, self._port(service)):
            console.print(f"[yellow]Attention : le port {self._port(service)} de "
                          f"{service.value} est pris par un autre programme.[/yellow]")

    def _restarts(self, name: str) -> Restarts:
        return self.restarts.setdefault(name, Restarts(name))

    def _seed_demo(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        from services.demo import seed

        env = self._service_env()
        settings = Settings(**{key.removeprefix("SUCCESS_").lower(): value
                               for key, value in env.items() if key.startswith("SUCCESS_")})
        if asyncio.run(_has_events(self.database_url)):
            console.print("Démonstration : la base contient déjà des données, rien n'est ajouté.")
            return
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("Démonstration : un an de programme rejoué", total=None)
            stats = asyncio.run(seed(settings, lambda done, total: progress.update(
                task, completed=done, total=total)))
        console.print("Démonstration prête : " + ", ".join(
            f"{key} {value}" for key, value in sorted(stats.items())))

    def _write_state(self) -> None:
        servers = {server.name: server.pid for server in self._servers() if server.pid}
        StackState(self.nats_url, self.database_url, {s.value: u for s, u in self.urls.items()},
                   os.getpid(), {s.value: p.pid for s, p in self.processes.items()},
                   servers, smtp=f"{self.mail.host}:{self.mail.port}" if self.mail else ""
                   ).write(self.data_dir)

    def _servers(self) -> list[PostgresServer | NatsServer]:
        """Ours to supervise, in start order: not those named in the environment."""
        return [server for server in (self.postgres, self.nats) if server is not None]

    def _service_env(self) -> dict[str, str]:
        env = {**os.environ, "SUCCESS_NATS_URL": self.nats_url,
               "SUCCESS_DATABASE_URL": self.database_url, **local_secrets(self.data_dir),
               **{f"SUCCESS_{name.upper()}_URL": url for name, url in self.urls.items()}}
        if self.mail is not None:
            env |= {"SUCCESS_SMTP_HOST": self.mail.host, "SUCCESS_SMTP_PORT": str(self.mail.port)}
        if self.demo and "SUCCESS_DIGEST_RECIPIENTS" not in os.environ:
            from services.demo import digest_recipients

            env["SUCCESS_DIGEST_RECIPIENTS"], self.digest_keys = digest_recipients(self.data_dir)
        return env

    def _spawn(self, service: Component, port: int, env: dict[str, str]) -> subprocess.Popen:
        log = open_private(self.data_dir / f"{service.value}.log")
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", service.value, "--host", self.host,
             "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only: it stops in order
            preexec_fn=die_with_parent,
        )
        log.close()
        return process

    def _wait_ready(self, timeout: float = 90.0) -> None:
        """Until every service answers /readyz; ``timeout`` counts from a service's last
        start, so that restarts run their course up to GaveUp."""
        pending = set(self.processes)
        with console.status("Démarrage des services…"):
            while pending:
                self.supervise()  # a service that stops while starting is retried, then given up
                for service in list(pending):
                    try:
                        if httpx.get(f"{self.urls[service]}/readyz", timeout=1).status_code == 200:
                            pending.discard(service)
                    except httpx.HTTPError:
                        pass
                late = [service.value for service in pending
                        if time.monotonic() > self._restarts(service.value).started_at + timeout]
                if late:
                    raise TimeoutError(f"services pas prêts après {timeout:.0f} s : "
                                       f"{', '.join(late)}")
                time.sleep(0.2)

    def print_summary(self) -> None:
        table = Table(title="Succ'ess est démarré", show_lines=False)
        table.add_column("composant")
        table.add_column("adresse")
        table.add_column("documentation")
        web_fronts = {Component.backoffice: "espace du personnel (connexion)",
                      Component.participants: "formulaires et liens des participants"}
        for service, url in self.urls.items():
            table.add_row(service.value, url, web_fronts.get(service, f"{url}/docs"))
        table.add_row("NATS", without_password(self.nats_url), "")
        table.add_row("PostgreSQL", without_password(self.database_url), "")
        console.print(table)
        console.print(f"Données : {self.data_dir}   Journaux : {self.data_dir}/*.log")
        console.print(f"Secrets (mots de passe de PostgreSQL et NATS, clés) : "
                      f"{self.data_dir / SECRETS_FILE}")
        if self.mail is not None:
            console.print(f"Courriels envoyés (rappels, synthèses) : {self.mail.directory}/*.eml")
        for region, path in sorted(self.digest_keys.items()):
            console.print(f"Synthèse quotidienne {region} : clé privée age dans {path} "
                          f"(age -d -i {path} …)", soft_wrap=True)
        backoffice = self.urls[Component.backoffice]
        console.print(f"[bold]Espace du personnel (back-office) : {backoffice}[/bold]",
                      soft_wrap=True)
        console.print(f"[bold]Pages des participants (formulaires de candidature, liens "
                      f"personnels) : {self.urls[Component.participants]}[/bold]", soft_wrap=True)
        accounts = self.data_dir / DEMO_ACCOUNTS_FILE
        if accounts.exists():
            console.print(f"Comptes de démonstration (adresses et mots de passe) : {accounts}",
                          soft_wrap=True)
        else:
            console.print("Premier compte : `success staff add --email vous@cress.fr --role "
                          "admin --print-link`, puis ouvrez le lien affiché.", soft_wrap=True)
        console.print("Ctrl-C pour tout arrêter proprement.")

    def _demo_accounts(self) -> None:
        """The demo's staff accounts (a national admin and analyst, a referent per region),
        with passwords in a file only our user reads; kept as they are once made."""
        from services.demo import create_demo_accounts

        path = self.data_dir / DEMO_ACCOUNTS_FILE
        if path.exists():
            return
        settings = Settings(database_url=self.database_url,
                            backoffice_url=self.urls[Component.backoffice])
        lines = asyncio.run(create_demo_accounts(settings))
        if lines:
            write_private(path, "\n".join(lines) + "\n")

    def watch(self, stop: "StopFlag") -> None:
        """Keep servers and services running until asked to stop (GaveUp: could not)."""
        while not stop.requested:
            self.supervise()
            stop.wait(0.5)

    def supervise(self) -> None:
        """One round: restart, after its pause, what has stopped; servers first, as the
        services need them. Raises GaveUp after MAX_ATTEMPTS failed starts in a row."""
        for server in self._servers():
            if not server.running:  # polling reaps it: a killed server leaves no zombie
                self._after_stop(server.name, _SERVER_LABELS[server.name], server.port,
                                 server.process, server.log_path,
                                 lambda s=server: self._restart_server(s))
        for service, process in list(self.processes.items()):
            if process.poll() is not None:
                self._after_stop(service.value, service.value, self._port(service), process,
                                 self.data_dir / f"{service.value}.log",
                                 lambda s=service: self._restart_service(s))

    def _after_stop(self, name: str, label: str, port: int, process: subprocess.Popen | None,
                    log: Path, restart: Callable[[], None]) -> None:
        restarts, now = self._restarts(name), time.monotonic()
        if restarts.retry_at is None:  # just seen stopped
            code = process.returncode if process is not None else None
            try:
                pause = restarts.stopped(now)
            except GaveUp as exc:
                taken = (f" ; le port {port} est pris par un autre programme"
                         if port_taken(self.host, port) else "")
                raise GaveUp(f"{exc}{taken}. Voir {log}") from None
            stopped = f"s'est arrêté (code {code})" if code is not None else "n'a pas démarré"
            console.print(f"[yellow]{label} {stopped} : redémarrage sur le port {port} dans "
                          f"{_french_number(pause)} s (tentative {restarts.failures}/"
                          f"{MAX_ATTEMPTS}).[/yellow]")
            return
        if not restarts.due(now):
            return
        try:
            restart()
        except (OSError, RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]  # the log has the rest
            console.print(f"[yellow]{label} : échec du redémarrage ({reason}).[/yellow]")
            restarts.retry_at = None  # counted as a failure on the next round
            return
        restarts.started(time.monotonic())
        self._write_state()

    def _restart_server(self, server: PostgresServer | NatsServer) -> None:
        try:
            server.start()  # same ports: the services reconnect by themselves
        except Exception:
            server.kill()  # a half-started server would hold the port for the next attempt
            raise
        console.print(f"[green]{_SERVER_LABELS[server.name]} redémarré (processus {server.pid}, "
                      f"port {server.port}).[/green]")

    def _restart_service(self, service: Component) -> None:
        self.processes[service] = self._spawn(service, self._port(service), self._service_env())
        console.print(f"[green]{service.value} redémarré (processus "
                      f"{self.processes[service].pid}, port {self._port(service)}).[/green]")

    def stop(self) -> None:
        with console.status("Arrêt des services…"):
            for process in self.processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in self.processes.values():
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if self.mail is not None:
                self.mail.stop()
            if self.nats is not None:
                self.nats.stop()
            if self.postgres is not None:
                self.postgres.stop()
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        console.print("Tout est arrêté.")


def local_secrets(data_dir: Path) -> dict[str, str]:
    """The services' secrets (token signing, vault master key): taken from the environment
    when set, else made once and kept in the data directory (mode 600)."""
    from services.common.auth import generate_secret
    from services.intake.vault import generate_master_key

    return _kept_secrets(data_dir, {"SUCCESS_AUTH_SECRET": generate_secret,
                                    "SUCCESS_VAULT_MASTER_KEY": generate_master_key},
                         from_environment=True)


def embedded_credentials(data_dir: Path) -> dict[str, str]:
    """The embedded servers' passwords (PostgreSQL superuser, NATS user), made at the first
    `success up` and kept with the other secrets: on a shared machine no other OS user can
    connect to them."""
    return _kept_secrets(data_dir, {EMBEDDED_POSTGRES_PASSWORD: _new_password,
                                    EMBEDDED_NATS_PASSWORD: _new_password},
                         from_environment=False)


def _new_password() -> str:
    return secrets_module.token_hex(24)  # URL- and configuration-safe


def _kept_secrets(data_dir: Path, wanted: dict[str, Callable[[], str]], *,
                  from_environment: bool) -> dict[str, str]:
    path = data_dir / SECRETS_FILE
    stored = json.loads(path.read_text()) if path.exists() else {}
    chosen = {name: (from_environment and os.environ.get(name)) or stored.get(name) or make()
              for name, make in wanted.items()}
    if any(stored.get(name) != value for name, value in chosen.items()):
        # Not chmod-ed here: as root, PostgreSQL's group may be passing through it (mode 710).
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, json.dumps(stored | chosen))
    elif path.exists():
        path.chmod(0o600)  # a file an earlier version made with the default mode
    return chosen


def without_password(url: str) -> str:
    """``url`` fit for a console or a log: its password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._request)

    def _request(self, *_: object) -> None:
        self.requested = True

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.requested and time.monotonic() < end:
            time.sleep(0.05)


async def _has_events(database_url: str) -> bool:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from services.common.store import async_database_url

    engine = create_async_engine(async_database_url(database_url), hide_parameters=True)
    try:
        async with engine.connect() as conn:
            return bool((await conn.execute(text(
                "SELECT EXISTS (SELECT 1 FROM intake.events)"))).scalar())
    finally:
        await engine.dispose()


def run_stack(data_dir: Path, settings: Settings, *, fresh: bool, host: str,
              demo: bool = False, ports: dict[Component, int] | None = None) -> int:
    running = StackState.read(data_dir)
    if running is not None and running.pid and psutil.pid_exists(running.pid):
        console.print(f"[red]Succ'ess tourne déjà (processus {running.pid}) avec les données "
                      f"{data_dir}.[/red] Arrêtez-le (Ctrl-C) ou choisissez un autre --data-dir.")
        return 1
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    os.umask(0o077)  # whatever we and our children (servers, services) create stays ours
    stack = Stack(data_dir=data_dir, settings=settings, host=host, demo=demo,
                  ports=ports or {})
    stop = StopFlag()
    try:
        try:
            stack.start()
        except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:
            console.print(f"[red]Démarrage impossible :[/red] {exc}", soft_wrap=True)
            return 1
        stack.print_summary()
        # For scripts waiting on us: the back-office's address, never a password.
        print(f"BACKOFFICE {stack.urls[Component.backoffice]}", flush=True)
        print(f"PARTICIPANTS {stack.urls[Component.participants]}", flush=True)
        print(f"READY {stack.urls[Component.reporting]}", flush=True)
        try:
            stack.watch(stop)
        except GaveUp as exc:
            console.print(f"[red]Abandon :[/red] {exc}. Arrêt de Succ'ess.", soft_wrap=True)
            return 1
        return 0
    finally:
        stack.stop()
