"""``success``: the one command-line entry point of the Succ'ess platform."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from events import Service
from services.cli_common import DataDir, console, err
from services.cli_common import fail as _fail
from services.cli_common import load_settings as _settings
from services.cli_report import digest, export, replay, report_app
from services.registry import Component

app = typer.Typer(
    name="success",
    help="Succ'ess : le back-end du programme de mentorat des CRESS. "
    "Démarre le système, applique les migrations, génère les schémas et interroge les rapports.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)



@app.command()
def up(
    data_dir: DataDir = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Repartir de zéro : efface les données "
                                         "du système embarqué avant de démarrer.")] = False,
    host: Annotated[str, typer.Option(help="Adresse d'écoute des services HTTP.")] = "127.0.0.1",
    demo: Annotated[bool, typer.Option("--demo", help="Peupler d'abord un programme de "
                                        "démonstration (deux régions, une cohorte par trimestre "
                                        "depuis septembre 2025) via les API des services, si la "
                                        "base est vide.")] = False,
    port: Annotated[list[str] | None, typer.Option(
        "--port", metavar="SERVICE=PORT",
        help="Port imposé à un service (répétable), par ex. `--port intake=9101`. Sans cela : "
             "8100 (backoffice, l'espace du personnel), 8101 à 8104, 8105 (participants), ou "
             "un port libre si le port par défaut est pris (avec un avertissement).")] = None,
) -> None:
    """Démarre tout le système : PostgreSQL et NATS embarqués, migrations, puis les quatre
    services et l'espace web du personnel (un processus chacun). Ctrl-C arrête tout proprement.

    Avec `--demo`, un an et plus d'activité fictive est d'abord rejoué à travers les vraies API
    (candidatures, entretiens, binômes, séances, bilans, arrêts, sorties) ; des comptes de
    démonstration (une administratrice, une référente par région, un analyste) sont créés, et
    l'adresse de l'espace du personnel est affichée.

    Si SUCCESS_DATABASE_URL ou SUCCESS_NATS_URL sont définies, ces serveurs sont utilisés au
    lieu des serveurs embarqués.

    Un serveur ou un service qui s'arrête est relancé sur le même port, avec une pause
    croissante ; après 5 échecs de suite, tout s'arrête avec un message et le code 1."""
    from services.common.observability import configure_logging
    from services.common.stack import default_data_dir
    from services.common.supervisor import run_stack

    settings = _settings()
    # The demo runs the services in this process first: their logs would bury the progress bar.
    configure_logging("WARNING" if demo else settings.log_level, json=settings.log_json)
    raise typer.Exit(run_stack((data_dir or default_data_dir()).expanduser().resolve(), settings,
                               fresh=fresh, host=host, demo=demo, ports=_ports(port or [])))


def _ports(options: list[str]) -> dict[Component, int]:
    """``--port intake=9101`` options, checked."""
    ports: dict[Component, int] = {}
    for option in options:
        name, _, number = option.partition("=")
        if name not in Component.__members__:
            _fail(f"--port {option} : service inconnu (attendu : "
                  f"{', '.join(s.value for s in Component)}).")
        if not number.isdigit() or not 0 < int(number) < 65536:
            _fail(f"--port {option} : le port doit être un nombre entre 1 et 65535.")
        ports[Component(name)] = int(number)
    if len(set(ports.values())) < len(ports):
        _fail("--port : deux services ne peuvent pas partager un port.")
    return ports


@app.command()
def serve(
    service: Annotated[Component, typer.Argument(
        help="Le service à lancer (backoffice : l'espace web du personnel ; participants : "
        "les formulaires de candidature et les pages des liens personnels).")],
    host: Annotated[str, typer.Option(help="Adresse d'écoute HTTP.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port HTTP.")] = 8000,
) -> None:
    """Lance un seul service (API HTTP, relais vers NATS, consommateurs). C'est ce que fait
    `success up` pour chacun, et ce que lance chaque conteneur en production."""
    import uvicorn

    from services.common.observability import configure_logging
    from services.common.runtime import ServiceRuntime
    from services.registry import definition_of

    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json, service=service.value)
    if settings.clock_control:  # the shared clock (seeded with SUCCESS_CLOCK_START, if set)
        from services.common.clock import ControlledClock, set_clock

        set_clock(ControlledClock())
    elif settings.clock_start is not None:
        from services.common.clock import ShiftedClock, set_clock

        set_clock(ShiftedClock(settings.clock_start))
    if service in (Component.backoffice, Component.participants):
        from importlib import import_module

        create_app = import_module(f"services.{service.value}.app").create_app
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None,
                    access_log=False, timeout_graceful_shutdown=20)
        return
    service = Service(service.value)
    runtime = ServiceRuntime(definition_of(service), settings)
    uvicorn.run(runtime.app(), host=host, port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=20)


@app.command()
def migrate(
    service: Annotated[list[Service] | None, typer.Option(
        "--service", "-s", help="Service à migrer (répétable) ; tous par défaut.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Applique les migrations (Alembic) : chaque service dans son propre schéma PostgreSQL."""
    from services.common.migrate import migrate as run_migrations
    from services.common.stack import NoServerConfigured, resolve_urls

    try:
        _, database_url = resolve_urls(_settings(), data_dir)
    except NoServerConfigured as exc:
        _fail(str(exc))
    services = service or list(Service)
    asyncio.run(run_migrations(database_url, services))
    err.print(f"Migrations appliquées : {', '.join(s.value for s in services)}")


@app.command()
def schemas(
    out: Annotated[Path, typer.Option("--out", help="Dossier où écrire les schémas.")],
) -> None:
    """Génère le JSON Schema de chaque type d'événement et version (un fichier chacun) et le
    document AsyncAPI de chaque service (produit par FastStream)."""
    from faststream.specification import AsyncAPI

    from events.schemas import write_json_schemas
    from services.common.runtime import build_broker
    from services.registry import definition_of

    written = write_json_schemas(out)
    asyncapi_dir = out / "asyncapi"
    asyncapi_dir.mkdir(parents=True, exist_ok=True)
    for service in Service:
        definition = definition_of(service)
        broker = build_broker(definition)
        from services.common.consumer import ConsumerRunner

        for consumer in definition.consumers:  # documented, not connected
            ConsumerRunner(service, consumer, None, broker, _settings()).subscribe()  # type: ignore[arg-type]
        document = AsyncAPI(broker, title=f"Succ'ess — {service.value}", version="1.0.0",
                            description=definition.description, schema_version="3.0.0")
        path = asyncapi_dir / f"{service.value}.json"
        path.write_text(document.to_specification().to_json() + "\n", encoding="utf-8")
        written.append(path)
    err.print(f"{len(written)} fichiers écrits dans {out}")


def _secret(name: str, data_dir: Path | None) -> str:
    """A secret from the environment, else the embedded system's (``success up`` made it)."""
    import os

    from services.common.stack import default_data_dir

    value = os.environ.get(name)
    if not value:
        path = (data_dir or default_data_dir()) / "secrets.json"
        value = json.loads(path.read_text()).get(name) if path.exists() else None
    if not value:
        _fail(f"{name} n'est pas défini et aucun système embarqué n'a été démarré : lancez "
              "`success up` ou définissez la variable.")
    return value


@app.command()
def token(
    role: Annotated[str, typer.Option(
        help="referent, admin, analyst ; mentor (sujet : son identifiant de personne, pour "
        "déclarer ses séances) ; service (appels entre services).")],
    subject: Annotated[str, typer.Option(help="Identifiant de la personne (ex. ref-042).")],
    region: Annotated[str | None, typer.Option(
        help="Région de rattachement (ex. IDF) ; obligatoire pour un·e référent·e.")] = None,
    ttl_hours: Annotated[float, typer.Option(help="Durée de validité en heures.")] = 12,
    data_dir: DataDir = None,
) -> None:
    """Émet un jeton d'accès au back-office (en-tête `Authorization: Bearer …`)."""
    from datetime import timedelta

    from services.common.auth import StaffRole, issue_token

    try:
        staff_role = StaffRole(role)
    except ValueError:
        _fail("rôle inconnu : choisissez referent, admin, analyst, mentor ou service.")
    if staff_role is StaffRole.referent and not region:
        _fail("un·e référent·e est rattaché·e à une région : ajoutez --region (ex. --region IDF).")
    secret = _secret("SUCCESS_AUTH_SECRET", data_dir)
    print(issue_token(secret, subject, staff_role, region.upper() if region else None,
                      ttl=timedelta(hours=ttl_hours)))


@app.command()
def erase(
    person_id: Annotated[str, typer.Argument(help="Identifiant pseudonyme de la personne.")],
    data_dir: DataDir = None,
) -> None:
    """Efface une personne : détruit sa clé et ses données du coffre (crypto-effacement) et
    publie `PersonErased`, pour que chaque vue oublie ce qu'elle savait d'elle."""
    from uuid import UUID

    from services.common.clock import get_clock
    from services.common.stack import NoServerConfigured, resolve_urls
    from services.common.store import EventStore
    from services.intake.vault import Vault
    from services.intake.workflow import Intake

    try:
        person = UUID(person_id)
    except ValueError:
        _fail("identifiant invalide : un UUID est attendu (ex. 3f2b…-…).")
    try:
        _, database_url = resolve_urls(_settings(), data_dir)
    except NoServerConfigured as exc:
        _fail(str(exc))
    vault = Vault.from_setting(_secret("SUCCESS_VAULT_MASTER_KEY", data_dir))

    async def run() -> bool:
        store = EventStore.connect(database_url, Service.intake.value, pool_size=2)
        try:
            return await Intake(store, vault, _settings(), get_clock()).erase(person, "cli")
        finally:
            await store.dispose()

    if not asyncio.run(run()):
        _fail(f"personne {person} introuvable (déjà effacée ?).")
    err.print(f"Personne {person} effacée ; PersonErased sera publié par le relais d'intake.")


@app.command("simulate-cohort")
def simulate_cohort(
    region: Annotated[str, typer.Option(help="Région (ex. BRE).")],
    target: Annotated[int | None, typer.Option(
        help="Binômes visés (défaut : l'objectif de la cohorte ouverte).")] = None,
    cohort: Annotated[str | None, typer.Option(
        help="Cohorte (ex. BRE-2026-03 ; défaut : la dernière ouverte de la région).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Estime combien de mentors il faut encore recruter pour atteindre l'objectif d'une
    cohorte, d'après le vivier actuel et le taux d'acceptation des propositions passées."""
    from dataclasses import asdict

    from sqlalchemy import text

    from services.common.stack import NoServerConfigured, resolve_urls
    from services.common.store import EventStore
    from services.matching.simulation import PoolFigures, simulate
    from services.matching.workflow import Matching

    region = region.upper()
    try:
        _, database_url = resolve_urls(_settings(), data_dir)
    except NoServerConfigured as exc:
        _fail(str(exc))

    async def figures() -> tuple[str | None, PoolFigures]:
        store = EventStore.connect(database_url, Service.matching.value, pool_size=2)
        try:
            matching = Matching(store, None)  # type: ignore[arg-type]
            mentees, mentors, rows = await matching.pool(region)
            async with store.engine.connect() as conn:
                opened = (await conn.execute(text(
                    "SELECT data FROM matching.events WHERE type = 'CohortOpened' AND "
                    "data->>'cohort_id' LIKE :prefix AND (CAST(:cohort AS text) IS NULL OR "
                    "data->>'cohort_id' = :cohort) ORDER BY position DESC LIMIT 1"),
                    {"prefix": f"{region}-%", "cohort": cohort})).scalar()
                cohort_id = opened["cohort_id"] if opened else cohort
                counts = (await conn.execute(text(
                    "SELECT count(*) FILTER (WHERE status = 'confirmed') AS accepted, "
                    "count(*) FILTER (WHERE status = 'declined') AS declined "
                    "FROM matching.proposals WHERE region = :r"), {"r": region})).one()
                active = (await conn.execute(text(
                    "SELECT count(*) FROM matching.pairs WHERE cohort_id = :c AND ended_on IS NULL"),
                    {"c": cohort_id})).scalar()
            all_mentors = [r for r in rows if r.role == "mentor"]
            goal = target if target is not None else (opened or {}).get("target_pairs")
            if goal is None:
                _fail(f"aucune cohorte ouverte pour {region} : donnez --target.")
            return cohort_id, PoolFigures(
                target_pairs=goal, active_pairs=active, free_mentees=len(mentees),
                free_mentor_places=sum(m.capacity for m in mentors), mentors=len(all_mentors),
                mentor_places=sum(r.capacity or 0 for r in all_mentors),
                accepted=counts.accepted, declined=counts.declined)
        finally:
            await store.dispose()

    cohort_id, pool = asyncio.run(figures())
    estimate = simulate(pool)
    if as_json:
        print(json.dumps({"region": region, "cohort": cohort_id, "pool": asdict(pool),
                          "estimate": asdict(estimate), "summary": estimate.sentence()},
                         ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Simulation {cohort_id or region}")
    table.add_column("indicateur")
    table.add_column("valeur", justify="right")
    for label, value in [
        ("binômes visés", pool.target_pairs), ("binômes actifs", pool.active_pairs),
        ("jeunes disponibles", pool.free_mentees), ("places de mentors libres",
                                                    pool.free_mentor_places),
        ("taux d'acceptation", f"{estimate.acceptance_rate:.0%}"),
        ("mentors à recruter", estimate.mentors_needed),
        ("jeunes à recruter", estimate.mentees_needed)]:
        table.add_row(label, str(value))
    console.print(table)
    console.print(estimate.sentence())


# --- reporting: cohorts, replay, export, digest (services/cli_report.py) ---------------------

app.add_typer(report_app, name="report")
for command in (replay, export, digest):
    app.command()(command)


@app.command("nats-config")
def nats_config(
    regions: Annotated[str, typer.Option(help="Régions fédérées, séparées par des virgules "
                                         "(ex. IDF,BRE,OCC).")],
    out: Annotated[Path, typer.Option("--out", help="Dossier où écrire la configuration.")],
    url: Annotated[str, typer.Option(help="Adresse du serveur NATS, telle que les régions et "
                                     "les services la joignent.")] = "nats://nats:4222",
    consumer: Annotated[list[str] | None, typer.Option(
        "--consumer", help="Noms des consommateurs durables permis à chaque région (répétable) ; "
        "une région R les crée sous le nom `r-<nom>`. Défaut : events et pairs.")] = None,
    rotate: Annotated[list[str] | None, typer.Option(
        "--rotate", help="Renouveler le mot de passe d'une région, de `services`, ou `all` "
        "(répétable) ; les autres identifiants existants sont conservés.")] = None,
    store_dir: Annotated[str, typer.Option(help="Dossier JetStream dans le conteneur NATS.")]
    = "/data",
) -> None:
    """Génère la configuration du serveur NATS et un identifiant par région.

    Écrit dans `--out` :

    - `nats-server.conf` (JetStream, `sync_interval: always`, surveillance HTTP) et
      `accounts.conf` (utilisateurs et permissions, mots de passe hachés bcrypt) ;
    - `credentials/<R>.json` pour chaque région et `credentials/services.json` pour nos
      services (mode 600, à transmettre par un canal sûr) ;
    - `services.env` : la variable `SUCCESS_NATS_URL` de nos services (lue par compose.yaml).

    Une région **publie** seulement sur `success.<R>.>` (hors des sujets de nos services,
    qu'elle ne peut pas usurper) et **lit** ses propres sujets et les
    sujets partagés pseudonymes `success.*.matching.>` (cohortes, propositions, binômes), à
    travers ses propres consommateurs durables. Relancer la commande garde les mots de passe
    existants, sauf ceux de `--rotate`."""
    from services.common.federation import (
        DEFAULT_CONSUMER_NAMES, SHARED_SUBJECTS, FederationError, parse_regions,
        write_nats_config,
    )

    try:
        codes = parse_regions(regions)
        written = write_nats_config(out, codes, url=url, names=consumer or DEFAULT_CONSUMER_NAMES,
                                    rotate=rotate, store_dir=store_dir)
    except FederationError as exc:
        _fail(str(exc))
    table = Table(title=f"Identifiants NATS ({out})")
    for column in ("identifiant", "utilisateur", "publie", "lit", "consommateurs"):
        table.add_column(column)
    from services.common.federation import Credential

    for path in written[3:]:
        credential = Credential.read(path)
        if credential.region is None:
            table.add_row(path.name, credential.user, "tout", "tout", "—")
        elif credential.region in codes:
            table.add_row(path.name, credential.user, f"success.{credential.region}.partner.>",
                          ", ".join([f"success.{credential.region}.>", *SHARED_SUBJECTS]),
                          ", ".join(credential.consumer_names))
    console.print(table)
    err.print(f"Configuration écrite dans {out} : montez ce dossier dans le conteneur NATS "
              f"(`nats-server -c {out.name}/nats-server.conf`) et transmettez à chaque région "
              "son fichier credentials/<R>.json.")


dlq_app = typer.Typer(
    help="Lettres mortes : les messages qu'un consommateur n'a pas pu traiter "
    "(sujet `success.dlq.<service>`, raison dans les en-têtes `Success-Dlq-*`).",
    no_args_is_help=True, rich_markup_mode="markdown")
app.add_typer(dlq_app, name="dlq")


def _nats_url(data_dir: Path | None) -> str:
    from services.common.stack import NoServerConfigured, resolve_urls

    if _settings().nats_url:  # NATS alone is enough here
        return _settings().nats_url
    try:
        nats_url, _ = resolve_urls(_settings(), data_dir)
    except NoServerConfigured as exc:
        _fail(str(exc))
    return nats_url


async def _quiet(_exc: Exception) -> None:
    """nats-py prints every connection error with its traceback: we say it once, in French."""


async def _with_nats(nats_url: str, work):
    from services.common import bus

    try:
        nc = await bus.connect(nats_url, "success-cli", max_reconnect_attempts=1,
                               allow_reconnect=False, connect_timeout=5,
                               error_cb=_quiet)
    except Exception as exc:
        _fail(f"NATS injoignable ({nats_url}) : {exc!r}. Vérifiez SUCCESS_NATS_URL, ou que "
              "`success up` tourne.")
    try:
        return await work(nc)
    finally:
        await nc.close()


ServiceFilter = Annotated[Service | None, typer.Option(
    "--service", "-s", help="Seulement les lettres mortes de ce service.")]


@dlq_app.command("list")
def dlq_list(
    service: ServiceFilter = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")] = False,
    data_dir: DataDir = None,
) -> None:
    """Liste les lettres mortes en attente : numéro (pour `success dlq replay --seq`), service
    et consommateur, code et raison, type et identifiant de l'événement, sujet d'origine."""
    from services.common.deadletters import list_dead_letters

    letters = asyncio.run(_with_nats(_nats_url(data_dir),
                                     lambda nc: list_dead_letters(nc, service)))
    if as_json:
        print(json.dumps([letter.as_json() for letter in letters], ensure_ascii=False, indent=2))
        return
    if not letters:
        err.print("Aucune lettre morte en attente.")
        return
    table = Table(title=f"Lettres mortes ({len(letters)})")
    for column in ("n°", "consommateur", "code", "raison", "type", "event_id", "sujet",
                   "livraisons", "date"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(str(letter.sequence), letter.consumer, letter.code, letter.reason[:120],
                      letter.event_type or "—", letter.event_id or "—", letter.subject,
                      str(letter.deliveries),
                      f"{letter.dead_lettered_at:%Y-%m-%d %H:%M:%S}" if letter.dead_lettered_at
                      else "—")
    console.print(table)
    err.print("Corrigez la cause, puis rejouez : `success dlq replay --seq N` (ou `--all`).")


@dlq_app.command("replay")
def dlq_replay(
    seq: Annotated[list[int] | None, typer.Option(
        "--seq", help="Numéro d'une lettre morte (répétable), tel que l'affiche "
        "`success dlq list`.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Toutes les lettres mortes (du service "
                                        "choisi avec --service, sinon de tous).")] = False,
    service: ServiceFilter = None,
    code: Annotated[str | None, typer.Option(
        help="Seulement les lettres mortes de ce code (ex. handler_failed).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Rejoue des lettres mortes : chaque message repart sur son sujet d'origine pour que le
    consommateur le traite à nouveau, puis sort de la liste (un second rejeu ne fait rien).

    Les autres consommateurs du sujet le reçoivent aussi et l'ignorent : ils l'ont déjà
    traité (identifiant d'événement enregistré)."""
    from rich.progress import Progress

    from services.common.deadletters import list_dead_letters, replay

    if not seq and not all_:
        _fail("dites quoi rejouer : --seq N (voir `success dlq list`) ou --all.")

    async def work(nc):
        letters = await list_dead_letters(nc, service)
        chosen = [l for l in letters if (all_ or l.sequence in set(seq or []))
                  and (code is None or l.code == code)]
        missing = set(seq or []) - {l.sequence for l in letters}
        done = []
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("Rejeu des lettres mortes", total=len(chosen))
            for letter in chosen:
                done += await replay(nc, [letter])
                progress.advance(task)
        return done, missing

    done, missing = asyncio.run(_with_nats(_nats_url(data_dir), work))
    for letter in done:
        err.print(f"n° {letter.sequence} rejoué sur {letter.subject} "
                  f"({letter.event_type or 'message illisible'} {letter.event_id or ''})")
    if missing:
        err.print(f"[yellow]Introuvables (déjà rejouées ?) :[/yellow] "
                  f"{', '.join(map(str, sorted(missing)))}")
    err.print(f"{len(done)} lettre(s) morte(s) rejouée(s).")


@app.command()
def republish(
    service: Annotated[list[Service] | None, typer.Option(
        "--service", "-s", help="Service dont republier le journal (répétable) ; tous par "
        "défaut.")] = None,
    from_position: Annotated[int, typer.Option(
        "--from-position", help="Republier seulement les événements après cette position du "
        "journal (0 : depuis le début).", min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Bilan en JSON (pour les scripts).")]
    = False,
    data_dir: DataDir = None,
) -> None:
    """Reprise après sinistre : republie vers JetStream le journal de chaque service, lu dans
    PostgreSQL (la source de vérité), dans l'ordre du journal.

    Chaque événement part avec `Nats-Msg-Id` = son identifiant : JetStream écarte ceux qu'il
    a encore, donc relancer la commande, ou la lancer pendant que les services publient,
    ne double rien. Les consommateurs ignorent ce qu'ils ont déjà traité ; les consommateurs
    durables perdus avec les données de NATS sont recréés par leur service.

    À lancer quand NATS a perdu ses données (dossier JetStream effacé, cluster reconstruit).
    Les lettres mortes, qui ne vivent que dans JetStream, ne reviennent pas."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from services.common.republish import republish_log
    from services.common.stack import NoServerConfigured, resolve_urls
    from services.common.store import EventStore

    try:
        nats_url, database_url = resolve_urls(_settings(), data_dir)
    except NoServerConfigured as exc:
        _fail(str(exc))
    services = service or list(Service)

    async def work(nc):
        results = []
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=err) as progress:
            for svc in services:
                store = EventStore.connect(database_url, svc.value, pool_size=2)
                try:
                    total = await store.count_after(from_position)
                    task = progress.add_task(f"{svc.value:<10}", total=total)
                    results.append(await republish_log(
                        store, nc, _settings(), from_position=from_position,
                        progress=lambda n, t=task: progress.advance(t, n)))
                finally:
                    await store.dispose()
        return results

    try:
        results = asyncio.run(_with_nats(nats_url, work))
    except (OSError, TimeoutError) as exc:
        _fail(f"republication interrompue ({exc!r}) : vérifiez que PostgreSQL "
              "(SUCCESS_DATABASE_URL) et NATS (SUCCESS_NATS_URL) répondent, puis relancez la "
              "commande (elle ne double rien).")
    if as_json:
        from dataclasses import asdict

        print(json.dumps([asdict(r) for r in results], indent=2))
        return
    table = Table(title="Republication")
    for column in ("service", "publiés", "déjà présents", "dernière position"):
        table.add_column(column, justify="left" if column == "service" else "right")
    for result in results:
        table.add_row(result.service, str(result.published), str(result.duplicates),
                      str(result.last_position))
    console.print(table)


from services.cli_clock import clock_app  # noqa: E402  (its commands use the helpers above)
from services.cli_staff import staff_app  # noqa: E402

app.add_typer(clock_app, name="clock")
app.add_typer(staff_app, name="staff")

if __name__ == "__main__":
    app()
