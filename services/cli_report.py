"""``success report cohorts``, ``replay``, ``export`` and ``digest``: what analysts and CRESS
staff read from reporting (issue #6), on the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.columns import Columns
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from services.cli_common import DataDir, console, err
from services.cli_common import fail as _fail
from services.cli_common import load_settings as _settings

report_app = typer.Typer(help="Consulter les vues de reporting (lecture seule).",
                         no_args_is_help=True)


def _reporting_database(data_dir: Path | None) -> str:
    from services.common.stack import NoServerConfigured, resolve_urls
    from services.common.store import raw_database_url

    try:
        return raw_database_url(resolve_urls(_settings(), data_dir)[1])
    except NoServerConfigured as exc:
        _fail(str(exc))
        raise


def _instant(value: str | None):
    """``--as-of``: an ISO 8601 instant; a bare date means the end of that day in Paris (the
    same rule as the reports' ``as_of``)."""
    if value is None:
        return None
    from services.common.validation import instant_or_day

    try:
        instant = instant_or_day(value)
    except ValueError:
        _fail(f"instant invalide : {value!r} (ex. 2026-01-31 ou 2026-01-31T18:00:00+01:00).")
    if instant.tzinfo is None:
        _fail("précisez le fuseau horaire (ex. 2026-01-31T18:00:00+01:00 ou …Z).")
    return instant


AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Les vues telles qu'elles étaient à cet instant (ISO 8601 ; une date seule "
    "= fin de cette journée, heure de Paris).")]


async def _with_connection(database_url: str, work):
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return await work(conn)
    finally:
        await conn.close()


@report_app.command("cohorts")
def report_cohorts(
    region: Annotated[str | None, typer.Option(help="Filtrer sur une région (ex. IDF).")] = None,
    cohort: Annotated[str | None, typer.Option(help="Filtrer sur une cohorte (ex. 2025-09).")] = None,
    as_of: AsOfOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")] = False,
    data_dir: DataDir = None,
) -> None:
    """L'entonnoir par région, cohorte et canal de recrutement : candidatures, refus,
    orientations, entretiens, admissions, binômes, en attente, terminés et arrêts."""
    from services.reporting.projections import read_view
    from services.reporting.queries import cohort_report

    database_url = _reporting_database(data_dir)
    instant = _instant(as_of)

    async def load(conn):
        return await read_view(conn, as_of=instant, tables=["funnel"])

    view = asyncio.run(_with_connection(database_url, load))
    report = cohort_report(view, region=region.upper() if region else None, cohort=cohort,
                           as_of=instant)
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    title = "Entonnoir par cohorte" + (f" au {instant:%d/%m/%Y %H:%M}" if instant else "")
    table = Table(title=title)
    columns = ["region", "cohort", "channel", "applications_mentees", "applications_mentors",
               "rejected", "routed", "interviewed", "admitted", "waiting", "paired", "active",
               "completed", "ended_early"]
    headers = ["région", "cohorte", "canal", "cand. jeunes", "cand. mentors", "refus",
               "orientés", "entretiens", "admis", "en attente", "en binôme", "actifs",
               "terminés", "arrêts"]
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=i < 3, justify="left" if i < 3 else "right")
    for row in report.rows:
        table.add_row(*(str(getattr(row, c)) for c in columns))
    table.add_row("total", "", "", *(str(report.totals[c]) for c in columns[3:]), style="bold")
    unbounded = console.options.update_width(10_000)  # the table's natural width
    if Measurement.get(console, unbounded, table).maximum <= console.width:
        console.print(table)
    else:  # too narrow for 14 columns (an 80-column terminal): one block per row, uncut
        console.print(f"[bold]{escape(title)}[/bold]")
        for label, values in [
                (f"{row.region} · {row.cohort} · {row.channel}",
                 [getattr(row, c) for c in columns[3:]]) for row in report.rows] + [
                ("total", [report.totals[c] for c in columns[3:]])]:
            console.print(f"\n[bold]{escape(label)}[/bold]")
            console.print(Columns([f"{header} : {value}" for header, value
                                   in zip(headers[3:], values)], padding=(0, 3), equal=True))
    if report.rejection_reasons or report.early_ending_reasons:
        reasons = ", ".join(f"{k} : {v}" for k, v in sorted(report.rejection_reasons.items()))
        endings = ", ".join(f"{k} : {v}" for k, v in sorted(report.early_ending_reasons.items()))
        console.print(f"Motifs de refus — {reasons or 'aucun'}")
        console.print(f"Motifs d'arrêt anticipé — {endings or 'aucun'}")


def replay(
    from_jetstream: Annotated[bool, typer.Option(
        "--from-jetstream", help="Relire le flux JetStream lui-même plutôt que l'archive.")] = False,
    write: Annotated[bool, typer.Option(
        "--write", help="Remplacer les vues stockées par celles reconstruites.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Reconstruit toutes les vues de reporting depuis l'archive (ou JetStream), puis vérifie
    qu'elles sont identiques aux vues tenues à jour en direct. Code de sortie 1 sinon."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.reporting import projections

    database_url = _reporting_database(data_dir)
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task("Relecture", total=None)

        def advance(n: int) -> None:
            bar.advance(task, n)

        async def run(conn):
            if from_jetstream:
                from services.common.stack import resolve_urls

                nats_url = resolve_urls(_settings(), data_dir)[0]
                view, events = await projections.fold_jetstream(
                    nats_url, progress=advance, total=lambda n: bar.update(task, total=n))
                view = projections.forget(view, await projections.erased_people(conn))
                live = await projections.load_view(conn)
                differences = projections.compare(view, live)
                return events, differences
            total = await conn.fetchval(
                "SELECT count(*) FROM reporting.archive WHERE position <= "
                "(SELECT position FROM reporting.view_state WHERE id = 1)")
            bar.update(task, total=total)
            result = await projections.replay(conn, write=write, progress=advance)
            return result.events, result.differences

        events, differences = asyncio.run(_with_connection(database_url, run))
    elapsed = time.perf_counter() - started
    source = "JetStream" if from_jetstream else "l'archive"
    err.print(f"{events} événements relus depuis {source} en {elapsed:.1f} s "
              f"({events / elapsed if elapsed else 0:,.0f} /s).".replace(",", " "))
    if differences:
        err.print("[red]Les vues reconstruites diffèrent des vues en direct :[/red]")
        for line in differences:
            err.print(f"  {line}")
        raise typer.Exit(code=1)
    err.print("[green]Identiques aux vues en direct.[/green]"
              + (" Vues stockées remplacées." if write else ""))


def export(
    out: Annotated[Path, typer.Option("--out", help="Dossier où écrire les fichiers.")],
    fmt: Annotated[str, typer.Option("--format", help="parquet ou csv.")] = "parquet",
    as_of: AsOfOption = None,
    data_dir: DataDir = None,
) -> None:
    """Exporte le journal pseudonyme des événements et chaque vue de reporting (Parquet ou
    CSV), pour DuckDB, pandas ou polars. Les personnes effacées n'y figurent pas."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from services.reporting.export import FORMATS
    from services.reporting.export import export as run_export

    if fmt not in FORMATS:
        _fail("format inconnu : choisissez parquet ou csv.")
    database_url = _reporting_database(data_dir)
    instant = _instant(as_of)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err) as bar:
        task = bar.add_task("Export", total=None)

        async def run(conn):
            bar.update(task, total=await conn.fetchval(
                "SELECT count(*) FROM reporting.archive WHERE "
                "($1::timestamptz IS NULL OR recorded_at <= $1)", instant))
            return await run_export(conn, out, fmt, as_of=instant,
                                    progress=lambda n: bar.advance(task, n))

        counts = asyncio.run(_with_connection(database_url, run))
    for name, count in counts.items():
        err.print(f"{out / (name + '.' + fmt)} : {count} lignes")


def digest(
    day: Annotated[str, typer.Option("--date", help="Journée des candidatures (AAAA-MM-JJ).")],
    region: Annotated[str, typer.Option(help="Région (ex. IDF).")],
    out: Annotated[Path, typer.Option("--out", help="Fichier chiffré à écrire (.csv.age).")],
    recipient: Annotated[list[str] | None, typer.Option(
        "--recipient", help="Clé publique age d'un destinataire (répétable) ; par défaut ceux "
        "de la région (SUCCESS_DIGEST_RECIPIENTS).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Produit à la main le récapitulatif protégé des candidatures d'une journée pour une
    région (le même fichier que celui envoyé chaque jour à 10 h)."""
    from datetime import date

    from services.reporting import digest as digests

    try:
        when = date.fromisoformat(day)
    except ValueError:
        _fail("date invalide : format AAAA-MM-JJ attendu.")
    region = region.upper()
    keys = recipient or [r.age for r in digests.recipients_of(_settings()).get(region, [])]
    if not keys:
        _fail(f"aucun destinataire pour {region} : donnez --recipient age1… ou configurez "
              "SUCCESS_DIGEST_RECIPIENTS.")
    database_url = _reporting_database(data_dir)

    async def run(conn):
        return await digests.load_applications(conn, region, when)

    rows = asyncio.run(_with_connection(database_url, run))
    try:
        protected = digests.encrypt(digests.to_csv(rows), keys)
    except ValueError as exc:
        _fail(f"clé publique age invalide : {exc}")
    out.write_bytes(protected)
    err.print(f"{out} : {len(rows)} candidature(s) du {when:%d/%m/%Y} en {region}, chiffré "
              f"pour {len(keys)} destinataire(s).")
