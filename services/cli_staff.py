"""``success staff add|invite|list|disable|enable``: the back-office's staff accounts.

``add`` creates an account and e-mails its owner a one-time link to choose a password (argon2
hash); nobody else ever sees or sets it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

staff_app = typer.Typer(
    help="Comptes du personnel de l'espace web (back-office) : créer et inviter, lister, "
    "désactiver.", no_args_is_help=True)

console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Dossier des données du système embarqué "
                 "(défaut : celui de `success up`, ou SUCCESS_DATA_DIR).", show_default=False),
]
PrintLink = Annotated[bool, typer.Option(
    "--print-link", help="Afficher le lien d'invitation au lieu de l'envoyer par e-mail (à "
    "transmettre vous-même, par un canal sûr).")]


def _fail(message: str) -> None:
    err.print(f"[red]Erreur :[/red] {message}")
    raise typer.Exit(code=2)


def _context(data_dir: Path | None):
    """Settings pointing at the running stack's database and mail catcher."""
    import os

    from services.common.settings import Settings
    from services.common.stack import NoServerConfigured, StackState, default_data_dir, resolve_urls

    settings = Settings()
    try:
        _, database_url = resolve_urls(settings, data_dir)
    except NoServerConfigured as exc:
        _fail(str(exc))
    update = {"database_url": database_url}
    state = StackState.read((data_dir or default_data_dir()).expanduser())
    if state is not None and state.smtp and "SUCCESS_SMTP_HOST" not in os.environ:
        host, _, port = state.smtp.rpartition(":")
        update |= {"smtp_host": host, "smtp_port": int(port)}
    if state is not None and "backoffice" in state.services \
            and "SUCCESS_BACKOFFICE_URL" not in os.environ:
        update["backoffice_url"] = state.services["backoffice"]
    return settings.model_copy(update=update)


def _run(work):
    from services.backoffice.accounts import AccountError
    from services.backoffice.repository import Accounts

    async def main(settings):
        accounts = Accounts.connect(settings.database_url)
        try:
            return await work(accounts, settings)
        finally:
            await accounts.dispose()

    def runner(settings):
        try:
            return asyncio.run(main(settings))
        except AccountError as error:
            _fail(f"{error.message} (--{error.field.replace('_', '-')})")
    return runner


async def _deliver(settings, account, link: str, print_link: bool) -> None:
    from services.backoffice.invitations import send_invitation
    from services.common.mail import MailError

    if print_link:
        console.print(f"Lien d'invitation (une seule fois) : {link}", soft_wrap=True)
        return
    try:
        await send_invitation(settings, account, link)
    except MailError as exc:
        _fail(f"l'e-mail d'invitation n'a pas pu partir ({exc}). Le compte existe : "
              f"relancez `success staff invite --email {account.email} --print-link` pour "
              "transmettre le lien vous-même.")
    console.print(f"Invitation envoyée à {account.email}.")


@staff_app.command("add")
def add(
    email: Annotated[str, typer.Option(help="Adresse e-mail professionnelle (identifiant de "
                                       "connexion).")],
    role: Annotated[str, typer.Option(help="referent, admin ou analyst.")],
    region: Annotated[str | None, typer.Option(
        help="Région (IDF, BRE…) ; sans région, un compte national (admin ou analyst).")] = None,
    name: Annotated[str | None, typer.Option(help="Nom affiché (défaut : l'adresse).")] = None,
    subject: Annotated[str | None, typer.Option(
        help="Identifiant dans les événements (défaut : tiré de l'adresse ; pour reprendre un "
        "identifiant existant, par ex. ref-idf-1).")] = None,
    print_link: PrintLink = False,
    data_dir: DataDir = None,
) -> None:
    """Crée un compte du personnel et envoie l'e-mail d'invitation (lien à usage unique pour
    choisir son mot de passe).

    Exemple : `success staff add --email ines@cress-idf.fr --role referent --region IDF`"""
    from services.backoffice.invitations import add_account

    async def work(accounts, settings):
        account, link = await add_account(accounts, settings, email=email, role=role,
                                          region=region, name=name, subject=subject)
        console.print(f"Compte créé : {account.email} ({account.role.value}, "
                      f"{account.region or 'national'}), identifiant {account.subject}.")
        await _deliver(settings, account, link, print_link)

    _run(work)(_context(data_dir))


@staff_app.command("invite")
def invite(
    email: Annotated[str, typer.Option(help="Adresse du compte.")],
    print_link: PrintLink = False,
    data_dir: DataDir = None,
) -> None:
    """Renvoie une invitation (mot de passe oublié ou lien expiré) : un nouveau lien à usage
    unique ; l'ancien ne sert plus."""
    from datetime import UTC, datetime, timedelta

    from services.backoffice.accounts import normalise_email
    from services.backoffice.invitations import invitation_link

    async def work(accounts, settings):
        account, token = await accounts.reinvite(
            normalise_email(email), datetime.now(UTC),
            timedelta(hours=settings.backoffice_invitation_hours))
        await _deliver(settings, account, invitation_link(settings, token), print_link)

    _run(work)(_context(data_dir))


@staff_app.command("list")
def list_accounts(data_dir: DataDir = None) -> None:
    """Liste les comptes du personnel."""
    async def work(accounts, settings):
        return await accounts.all()

    table = Table(title="Comptes du personnel")
    for column in ("adresse", "nom", "rôle", "région", "identifiant", "état"):
        table.add_column(column)
    for account in _run(work)(_context(data_dir)):
        state = "actif" if account.active else "invité ou désactivé"
        table.add_row(account.email, account.display_name, account.role.value,
                      account.region or "national", account.subject, state)
    console.print(table)


def _set_disabled(email: str, disabled: bool, data_dir: Path | None) -> None:
    from services.backoffice.accounts import normalise_email

    async def work(accounts, settings):
        return await accounts.set_disabled(normalise_email(email), disabled)

    account = _run(work)(_context(data_dir))
    console.print(f"Compte {account.email} {'désactivé (sessions fermées)' if disabled else 'réactivé'}.")


@staff_app.command("disable")
def disable(email: Annotated[str, typer.Option(help="Adresse du compte.")],
            data_dir: DataDir = None) -> None:
    """Désactive un compte : ses sessions sont fermées à l'instant."""
    _set_disabled(email, True, data_dir)


@staff_app.command("enable")
def enable(email: Annotated[str, typer.Option(help="Adresse du compte.")],
           data_dir: DataDir = None) -> None:
    """Réactive un compte désactivé."""
    _set_disabled(email, False, data_dir)
