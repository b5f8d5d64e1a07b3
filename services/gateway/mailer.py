"""Outgoing mail (verification, password reset): through SMTP when `smtp_url` is set, else to the log.

`smtp://[user:password@]host[:port]` upgrades with STARTTLS when the server offers it;
`smtps://...` speaks TLS from the first byte (port 465 by default). The stdlib client runs in a
thread, with a timeout, so a slow mail server cannot stall the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

from services.kit.settings import Settings, SettingsError

log = logging.getLogger(__name__)
SMTP_TIMEOUT_S = 15.0


class MailError(RuntimeError):
    """The mail server refused the message or could not be reached."""


def check_smtp_url(url: str) -> None:
    """SettingsError naming the problem when `smtp_url` is set but unusable."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(
            f"smtp_url: {url.split('@')[-1]!r} must be smtp://[user:pass@]host[:port] or smtps://..."
        )


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, to: str, subject: str, body: str) -> None:
        """Send one plain-text mail; MailError when the SMTP server fails (the log never fails)."""
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(body)
        if not self.settings.smtp_url:
            log.info("mail (no SMTP server set; SIMSWARM_SMTP_URL sends it) to %s: %s\n%s", to, subject, body)
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(self._deliver, msg), SMTP_TIMEOUT_S + 5)
        except (OSError, smtplib.SMTPException, TimeoutError) as exc:
            raise MailError(f"mail to {to} not sent: {exc}") from exc

    def _deliver(self, msg: EmailMessage) -> None:
        url = urlsplit(self.settings.smtp_url)
        host = url.hostname or "localhost"
        if url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, url.port or 465, timeout=SMTP_TIMEOUT_S, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, url.port or 25, timeout=SMTP_TIMEOUT_S)
        with client:
            client.ehlo()
            if url.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(msg, from_addr=parseaddr(self.settings.mail_from)[1] or None)
