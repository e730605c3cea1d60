"""Creating staff accounts and e-mailing their one-time invitation link (the CLI's and the
demo's shared path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.backoffice.accounts import (
    Account,
    check_identity,
    hash_password,
    normalise_email,
    subject_from_email,
)
from services.backoffice.labels import ROLE_LABELS
from services.backoffice.repository import Accounts
from services.common.mail import build_message, send
from services.common.settings import Settings
from services.common.web import french_datetime

_MAILS = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates" / "courriels"),
                     autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


async def add_account(accounts: Accounts, settings: Settings, *, email: str, role: str,
                      region: str | None, name: str | None = None, subject: str | None = None,
                      password: str | None = None) -> tuple[Account, str | None]:
    """The new account, and its invitation link (None when a password was given: demo)."""
    email = normalise_email(email)
    staff_role, region = check_identity(role, region, subject or subject_from_email(email))
    account, token = await accounts.create(
        email=email, display_name=(name or email.split("@")[0]).strip()[:120],
        subject=subject or subject_from_email(email), role=staff_role, region=region,
        now=datetime.now(UTC), invitation_ttl=timedelta(hours=settings.backoffice_invitation_hours),
        password_hash=hash_password(password) if password else None)
    return account, None if password else invitation_link(settings, token)


def invitation_link(settings: Settings, token: str) -> str:
    return f"{settings.backoffice_url.rstrip('/')}/invitation/{token}"


async def send_invitation(settings: Settings, account: Account, link: str) -> None:
    expires = datetime.now(UTC) + timedelta(hours=settings.backoffice_invitation_hours)
    scope = f"région {account.region}" if account.region else "national"
    values = {"name": account.display_name, "email": account.email, "link": link,
              "site": settings.backoffice_url, "expires": french_datetime(expires),
              "role": f"{ROLE_LABELS[account.role]} ({scope})"}
    message = build_message(
        sender=settings.smtp_sender, to=[account.email],
        subject="Votre compte dans l'espace du personnel Succ'ess",
        body=_MAILS.get_template("invitation.txt").render(values),
        key=f"invitation-{account.account_id}-{int(expires.timestamp())}")
    message.add_alternative(_MAILS.get_template("invitation.html").render(values),
                            subtype="html")
    await send(settings, message)
