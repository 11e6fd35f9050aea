"""Sending the outbox over SMTP (SMTP_URL): `smtp://user:pass@host:587` upgrades with STARTTLS when the server
offers it, `smtps://host:465` is TLS from the first byte. A temporary refusal (4xx, a dropped connection) leaves the
message queued and the job retries with backoff; a permanent one (5xx) marks it failed with the server's answer.
Each message is claimed by one worker before it is sent, and keeps one Message-ID on every attempt."""
from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy import update

from .. import jobs
from ..extensions import db
from ..merchant import merchant_settings
from ..models import OutboxMessage, utcnow
from ..models.mail import MAIL_FAILED, MAIL_QUEUED, MAIL_SENDING, MAIL_SENT
from ..payments.base import is_local_url
from .outbox import attached_document, sender_address

log = logging.getLogger("portal.mail")


class TemporaryFailure(Exception):
    """The server or the network said "not now": the job tries again later."""


class PermanentFailure(Exception):
    """The server refused the message for good; the message is its answer."""


def compose(row: OutboxMessage) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((merchant_settings().business_name, sender_address()))
    message["To"] = row.to_address
    if row.reply_to:
        message["Reply-To"] = row.reply_to
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = formatdate(localtime=False)
    if row.kind == "reminder" and row.invoice_id:
        # Mail apps show this as their own "Unsubscribe" button; -Post makes it one click (RFC 8058).
        from ..models import Invoice
        from .unsubscribe import stop_url

        message["List-Unsubscribe"] = f"<{stop_url(db.session.get(Invoice, row.invoice_id).customer)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    attached = attachment(row)
    if attached is not None:
        name, data = attached
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message


def attachment(row: OutboxMessage) -> tuple[str, bytes] | None:
    """The row's PDF as (file name, bytes), rendered now from the invoice or payment it names; None without one."""
    from .. import pdf
    from ..models import Invoice

    document = attached_document(row)
    if isinstance(document, Invoice):
        return pdf.invoice_filename(document), pdf.invoice_pdf(document)
    if document is not None:
        return pdf.receipt_filename(document), pdf.receipt_pdf(document)
    return None


def deliver(message: EmailMessage, url: str, timeout: float) -> None:
    """One SMTP session; TemporaryFailure or PermanentFailure when it does not end with the message accepted."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise PermanentFailure(f"SMTP_URL must be smtp://host:port or smtps://host:port, not {parts.scheme!r}")
    context = ssl.create_default_context()
    try:
        if parts.scheme == "smtps":
            client = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(parts.hostname, parts.port or 587, timeout=timeout)
        with client:
            client.ehlo()
            encrypted = parts.scheme == "smtps"
            if not encrypted and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
                encrypted = True
            if parts.username:
                if not encrypted and not is_local_url(url):
                    raise PermanentFailure("the server offers no STARTTLS: the password is not sent in clear")
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, answer = next(iter(exc.recipients.values()))
        raise (TemporaryFailure if 400 <= code < 500 else PermanentFailure)(_answer(code, answer)) from exc
    except smtplib.SMTPResponseException as exc:
        raise (TemporaryFailure if 400 <= exc.smtp_code < 500 else PermanentFailure)(
            _answer(exc.smtp_code, exc.smtp_error)) from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, dropped, timed out: nothing was accepted
        raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc


def _answer(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


@jobs.handler("send_mail")
def send_mail(message_id: int) -> None:
    claimed = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id,
                                    OutboxMessage.status.in_((MAIL_QUEUED, MAIL_SENDING)))
        .values(status=MAIL_SENDING, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not claimed:
        return  # sent or failed already
    row = db.session.get(OutboxMessage, message_id, populate_existing=True)
    config = current_app.config
    try:
        deliver(compose(row), config["SMTP_URL"], config["SMTP_TIMEOUT_SECONDS"])
    except TemporaryFailure as exc:
        row.status, row.last_error = MAIL_QUEUED, str(exc)[:2000]
        db.session.commit()
        log.warning("mail %s to %s: %s; will retry", row.id, row.to_address, exc)
        raise  # the job worker retries with backoff
    except PermanentFailure as exc:
        row.status, row.last_error = MAIL_FAILED, str(exc)[:2000]
        db.session.commit()
        log.error("mail %s to %s refused: %s", row.id, row.to_address, exc)
        return
    row.status, row.sent_at, row.last_error = MAIL_SENT, utcnow(), ""
    db.session.commit()
    log.info("mail %s (%s) sent to %s", row.id, row.kind, row.to_address)
