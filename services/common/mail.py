"""Outgoing e-mail (follow-up reminders, the daily digest) through a real SMTP client.

Delivery is at least once: callers record what they sent after the SMTP server accepted it,
and give every message a deterministic ``Message-ID`` so that a re-send after a crash in the
short window between the server's acceptance and that record is recognisable as the same
message (mail stores and clients collapse identical Message-IDs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from services.common.clock import get_clock
from services.common.settings import Settings

MESSAGE_ID_DOMAIN = "succes.cress.fr"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


class MailError(RuntimeError):
    """The SMTP server refused or could not be reached: retry later."""


def message_id(key: str) -> str:
    """The Message-ID of the message sent for ``key`` (a reminder id, a digest's region+day)."""
    return f"<{key}@{MESSAGE_ID_DOMAIN}>"


def build_message(*, sender: str, to: Sequence[str], subject: str, body: str, key: str,
                  attachments: Sequence[Attachment] = (), now: datetime | None = None,
                  html: str | None = None) -> EmailMessage:
    """Plain text, and with ``html`` the same message in HTML (multipart/alternative)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = message_id(key)
    message["Date"] = format_datetime(now or get_clock().now())
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)
    return message


async def send(settings: Settings, message: EmailMessage) -> None:
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError) as error:
        raise MailError(f"envoi impossible via {settings.smtp_host}:{settings.smtp_port}: "
                        f"{error}") from error
