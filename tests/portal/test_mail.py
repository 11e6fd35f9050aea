"""Email to customers through a real SMTP server (aiosmtpd on a free port), read back as it arrived (issue 13)."""
from __future__ import annotations

import email
import re
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from portal import jobs
from portal.extensions import db
from portal.mail.smtp import send_mail
from portal.models import Job, OutboxMessage, utcnow
from portal.invoices import service


class Recorder:
    """An SMTP server's DATA handler: answers the scripted replies first, then accepts and keeps each message."""

    def __init__(self):
        self.received: list[email.message.EmailMessage] = []
        self.replies: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        if self.replies:
            return self.replies.pop(0)
        self.received.append(email.message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(app):
    recorder = Recorder()
    with socket.socket() as probe:  # a free port: aiosmtpd's start() checks it by connecting to it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_URL=f"smtp://127.0.0.1:{port}", MAIL_FROM="billing@shop.example")
    yield recorder
    controller.stop()


def pdf_text(data: bytes) -> str:
    """What a customer reads in an attached PDF (Debian's poppler-utils), runs of spaces made one."""
    import subprocess

    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout
    return "\n".join(" ".join(line.split()) for line in out.decode().splitlines())


def issue(make_invoice, staff, **extra):
    invoice = make_invoice(**{"name": "Asha Traders", "email": "asha@example.com", **extra})
    service.open_invoice(invoice, staff)
    return invoice


def run_due_jobs():
    db.session.execute(db.update(Job).where(Job.status == "queued").values(run_after=utcnow()))
    db.session.commit()
    jobs.run_pending()
    db.session.expire_all()


def test_issuing_an_invoice_emails_the_customer_both_parts_and_the_pay_link(smtp, make_invoice, staff, client):
    invoice = issue(make_invoice, staff)
    run_due_jobs()
    [mail] = smtp.received
    row = db.session.scalars(db.select(OutboxMessage)).one()
    assert (row.status, row.attempts, row.kind) == ("sent", 1, "invoice_issued")
    assert mail["To"] == "asha@example.com" and mail["Reply-To"] == "billing@shop.example"
    assert mail["From"].addresses[0].addr_spec == "billing@shop.example"
    assert mail["From"].addresses[0].display_name == "HisabPro Demo Store"
    assert mail["Message-ID"] == row.message_id
    assert mail["Subject"] == f"Invoice {invoice.number} from HisabPro Demo Store: ₹2,469.00 due"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Amount due: ₹2,469.00" in text and "Design work: 2 x ₹1,234.50 = ₹2,469.00" in text
    assert "₹2,469.00" in html and "Pay ₹2,469.00" in html
    link = re.search(r"Pay online: (\S+)", text).group(1)
    assert link in html and link.startswith("https://portal.example/pay/")
    page = client.get(link.removeprefix("https://portal.example"))
    assert page.status_code == 200 and invoice.number in page.get_data(as_text=True)
    [attached] = list(mail.iter_attachments())
    assert attached.get_content_type() == "application/pdf" and attached.get_filename() == f"invoice-{invoice.number}.pdf"
    printed = pdf_text(attached.get_content())
    assert invoice.number in printed and "Amount due ₹2,469.00" in printed and link in printed


def test_a_temporary_refusal_is_retried_and_delivered_once(smtp, make_invoice, staff):
    smtp.replies = ["421 4.3.2 Service not available, try again later"]
    issue(make_invoice, staff)
    run_due_jobs()
    row = db.session.scalars(db.select(OutboxMessage)).one()
    assert smtp.received == [] and row.status == "queued" and "421" in row.last_error
    run_due_jobs()  # the job's backoff has passed
    row = db.session.get(OutboxMessage, row.id)
    assert len(smtp.received) == 1 and (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    send_mail(row.id)  # a late second run of the job sends nothing
    assert len(smtp.received) == 1


def test_a_permanent_refusal_is_recorded_and_shown(smtp, make_invoice, staff, signed_in_staff):
    smtp.replies = ["550 5.1.1 No such user here"]
    issue(make_invoice, staff)
    run_due_jobs()
    row = db.session.scalars(db.select(OutboxMessage)).one()
    assert (row.status, row.last_error) == ("failed", "550 5.1.1 No such user here")
    run_due_jobs()
    assert smtp.received == [] and db.session.get(OutboxMessage, row.id).attempts == 1  # never tried again
    page = signed_in_staff.get("/outbox/").get_data(as_text=True)
    assert "Refused" in page and "550 5.1.1 No such user here" in page


def test_without_a_mail_server_messages_stay_in_the_outbox_to_be_read(app, make_invoice, staff, signed_in_staff):
    assert not app.config["SMTP_URL"]
    invoice = issue(make_invoice, staff)
    row = db.session.scalars(db.select(OutboxMessage)).one()
    assert row.status == "queued" and db.session.scalar(db.select(db.func.count(Job.id))) == 0
    listing = signed_in_staff.get("/outbox/").get_data(as_text=True)
    assert "No mail server is set" in listing and f"Invoice {invoice.number} from" in listing
    detail = signed_in_staff.get(f"/outbox/{row.id}").get_data(as_text=True)
    assert "asha@example.com" in detail and "Pay online: https://portal.example/pay/" in detail
    html = signed_in_staff.get(f"/outbox/{row.id}/html")
    assert html.status_code == 200 and "Pay ₹2,469.00" in html.get_data(as_text=True)
    assert "sandbox" in html.headers["Content-Security-Policy"] and "script" not in html.headers["Content-Security-Policy"]


def test_staff_send_the_invoice_to_another_address_once_per_form(smtp, make_invoice, staff, signed_in_staff):
    invoice = issue(make_invoice, staff)
    page = f"/invoices/{invoice.id}"
    key = re.search(r'name="send_key" value="([^"]+)"', signed_in_staff.get(page).get_data(as_text=True)).group(1)
    for _ in range(3):  # three clicks of one form
        response = signed_in_staff.post(f"/invoices/{invoice.id}/email", {"to": "accounts@asha.example", "send_key": key},
                                        token_page=page)
        assert response.status_code == 303
    for bad in ("not-an-address", "a@b.example\r\nBcc: x@evil.example", "a@b.example, c@d.example"):
        signed_in_staff.post(f"/invoices/{invoice.id}/email", {"to": bad, "send_key": "k2"}, token_page=page)
    run_due_jobs()
    assert sorted(m["To"] for m in smtp.received) == ["accounts@asha.example", "asha@example.com"]
    shown = signed_in_staff.get(page).get_data(as_text=True).split('id="messages"')[1]
    assert "Email to the customer" in shown and "accounts@asha.example" in shown and shown.count(">Sent<") == 2


def test_drafts_are_not_emailed_and_the_outbox_needs_a_sign_in(smtp, make_invoice, signed_in_staff, client):
    draft = make_invoice()
    response = signed_in_staff.post(f"/invoices/{draft.id}/email", {"to": "asha@example.com", "send_key": "k"},
                                    token_page=f"/invoices/{draft.id}")
    assert response.status_code == 303 and db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 0
    signed_in_staff.post("/logout", {}, token_page="/")
    assert client.get("/outbox/").status_code == 302


def _pay(invoice, amount_minor: int, payment_id: str):
    """A payment through a link, as the webhook, return page and reconciliation record it (ledger.record_payment)."""
    from portal.models import PaymentLink
    from portal.money import Money
    from portal.payments import ledger
    from portal.payments.base import GatewayPayment

    link = PaymentLink(invoice_id=invoice.id, gateway="razorpay", reference=f"ref-{payment_id}", link_id=f"plink_{payment_id}",
                       url="https://rzp.example/x", status="created", currency=invoice.currency,
                       amount_minor=invoice.amount_due.minor)
    db.session.add(link)
    db.session.flush()
    for _ in range(3):  # webhook, return page and reconciliation all report it
        ledger.record_payment(link, GatewayPayment(payment_id, Money(amount_minor, invoice.currency)), "webhook")
    db.session.commit()


def test_each_payment_gets_one_receipt_saying_what_is_still_due(smtp, make_invoice, staff):
    invoice = issue(make_invoice, staff, accept_partial="on")  # 2,469.00
    _pay(invoice, 100000, "pay_part_1")
    _pay(invoice, 146900, "pay_rest_1")
    run_due_jobs()
    issued, part, rest = smtp.received
    assert part["Subject"] == f"Receipt: ₹1,000.00 received for invoice {invoice.number}, ₹1,469.00 still due"
    text = part.get_body(("plain",)).get_content()
    assert "Amount received: ₹1,000.00" in text and "Paid with: Razorpay" in text and "Payment id: pay_part_1" in text
    assert "Still due: ₹1,469.00. Pay the rest here: https://portal.example/pay/" in text
    assert rest["Subject"] == f"Receipt: ₹1,469.00 received for invoice {invoice.number}"
    assert "The invoice is paid in full." in rest.get_body(("plain",)).get_content()
    assert "pay_rest_1" in rest.get_body(("html",)).get_content()
    [receipt] = list(part.iter_attachments())
    assert receipt.get_filename().startswith(f"receipt-{invoice.number}-") and receipt.get_content_type() == "application/pdf"
    printed = pdf_text(receipt.get_content())
    assert "Amount received ₹1,000.00" in printed and "Payment id pay_part_1" in printed and "Still due" in printed


def test_a_refund_reported_three_times_is_emailed_once(smtp, make_invoice, staff):
    from portal.money import Money
    from portal.payments import refunds
    from portal.payments.base import REFUND_PENDING, REFUND_SUCCEEDED, GatewayRefund

    invoice = issue(make_invoice, staff)
    _pay(invoice, invoice.total_minor, "pay_full_1")
    for status in (REFUND_PENDING, REFUND_SUCCEEDED, REFUND_SUCCEEDED, REFUND_SUCCEEDED):
        refunds.apply_refund(GatewayRefund("razorpay", "rfnd_mail_1", "pay_full_1", Money(50000, "INR"), status),
                             "webhook")
        db.session.commit()
    run_due_jobs()
    subjects = [m["Subject"] for m in smtp.received]
    assert subjects.count(f"Refund of ₹500.00 for invoice {invoice.number}") == 1  # not when pending, once when done
    [refund_mail] = [m for m in smtp.received if m["Subject"].startswith("Refund")]
    assert "through Razorpay (refund rfnd_mail_1)" in refund_mail.get_body(("plain",)).get_content()


# ---- reminders ----------------------------------------------------------------------------------------------

def test_which_reminder_applies_on_a_day():
    from datetime import date

    from portal.mail.reminders import step_due

    due, schedule = date(2026, 12, 10), (-3, 0, 3, 7, 14)
    assert [step_due(due, date(2026, 12, d), schedule) for d in (6, 7, 8, 9, 10, 12, 13, 14, 17)] == \
        [None, -3, -3, -3, 0, 0, 3, 3, 7]
    assert step_due(due, date(2027, 1, 30), schedule) is None  # weeks late: old steps are not sent


def test_reminders_go_once_per_step_and_stop_when_paid(smtp, app, make_invoice, staff):
    import threading
    from datetime import timedelta

    from portal.mail.reminders import send_due_reminders
    from portal.merchant import merchant_settings

    today = merchant_settings().today()
    late = issue(make_invoice, staff, due_date=(today - timedelta(days=3)).isoformat())
    soon = issue(make_invoice, staff, due_date=(today + timedelta(days=3)).isoformat(), email="kobe@example.com",
                 name="Kobe Imports")
    paid = issue(make_invoice, staff, due_date=today.isoformat(), email="paid@example.com", name="Paid Ltd")
    _pay(paid, paid.total_minor, "pay_paid_1")
    far = issue(make_invoice, staff, due_date=(today + timedelta(days=20)).isoformat(), email="far@example.com",
                name="Far Ltd")

    # Two workers run the job at the same moment, then a restart runs it again: one reminder per invoice and step.
    results = []

    def worker():
        with app.app_context():
            results.append(send_due_reminders(today))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert send_due_reminders(today) == 0
    assert sum(results) == 2
    run_due_jobs()
    reminders = {m["To"]: m["Subject"] for m in smtp.received if "eminder" in m["Subject"] or "Overdue" in m["Subject"]}
    assert reminders == {"asha@example.com": f"Overdue: invoice {late.number}, ₹2,469.00, was due 3 days ago",
                         "kobe@example.com": f"Reminder: invoice {soon.number}, ₹2,469.00, is due in 3 days"}
    # The next day the overdue one is paid: nothing more for it, ever.
    _pay(late, late.total_minor, "pay_late_1")
    for days in range(1, 15):
        send_due_reminders(today + timedelta(days=days))
    run_due_jobs()
    later = [m for m in smtp.received if m["To"] == "asha@example.com" and "Overdue" in m["Subject"]]
    assert len(later) == 1
    steps = lambda invoice: sorted(subject for (subject,) in db.session.execute(  # noqa: E731
        db.select(OutboxMessage.cause).where(OutboxMessage.kind == "reminder", OutboxMessage.invoice_id == invoice.id)))
    assert steps(far) == []  # due in 20 days: its first reminder (3 days before) is after these 14 days
    assert steps(soon) == [f"reminder:{soon.id}:{day}" for day in ("-3", "0", "3", "7")]  # one per step, in order


def test_admins_set_the_reminder_schedule_and_where_replies_go(smtp, make_invoice, staff, signed_in_admin):
    from datetime import timedelta

    from portal.mail.reminders import send_due_reminders
    from portal.merchant import merchant_settings
    from portal.models import MerchantSetting

    form = {"business_name": "Asha Design Studio", "address": "", "tax_id": "", "default_currency": "INR",
            "time_zone": "Asia/Kolkata", "payment_terms_days": "14", "invoice_footer": ""}
    page = signed_in_admin.get("/settings/").get_data(as_text=True)
    assert 'value="-3, 0, 3, 7, 14"' in page and "3 days before the due date, on it and 3, 7 and 14 days after" in page
    for field, value, message in [
            ("reminder_schedule", "tomorrow", "must be whole numbers of days separated by commas"),
            ("reminder_schedule", "3, 400", "within a year of the due date"),
            ("reminder_schedule", ",".join(str(d) for d in range(11)), "at most 10 days"),
            ("reply_to_email", "a@b.example, c@d.example", "must be one email address"),
            ("reply_to_email", "a@b.example\r\nBcc: x@evil.example", "must not contain control characters")]:
        refused = signed_in_admin.post("/settings/", {**form, field: value}, token_page="/settings/")
        assert refused.status_code == 422 and message in refused.get_data(as_text=True), (field, value)
    assert db.session.get(MerchantSetting, 1) is None  # nothing was saved

    saved = signed_in_admin.post("/settings/", {**form, "reminder_schedule": " 7,-1 ", "reply_to_email": "accounts@asha.example"},
                                 token_page="/settings/")
    assert saved.status_code == 303
    from portal.merchant.profile import forget_cached
    forget_cached()
    assert merchant_settings().reminder_days == (-1, 7)
    assert "1 day before the due date and 7 days after" in signed_in_admin.get("/settings/").get_data(as_text=True)

    today = merchant_settings().today()
    tomorrow = issue(make_invoice, staff, due_date=(today + timedelta(days=1)).isoformat())
    in_three = issue(make_invoice, staff, due_date=(today + timedelta(days=3)).isoformat(), email="kobe@example.com")
    assert send_due_reminders(today) == 1  # the old schedule's "3 days before" no longer applies
    run_due_jobs()
    [reminder] = [m for m in smtp.received if m["Subject"].startswith("Reminder")]
    assert reminder["Subject"] == f"Reminder: invoice {tomorrow.number}, ₹2,469.00, is due in 1 day"
    assert all(m["Reply-To"] == "accounts@asha.example" for m in smtp.received)  # the merchant's, on every email
    shown = signed_in_admin.get(f"/invoices/{in_three.id}").get_data(as_text=True)
    next_on = (today + timedelta(days=2)).isoformat()
    assert re.search(rf"Next payment reminder:\s*<strong>{next_on}</strong>\s*<span class=\"muted\">\(1 day before the due date\)", shown)

    signed_in_admin.post("/settings/", {**form, "reminder_schedule": ""}, token_page="/settings/")
    forget_cached()
    assert send_due_reminders(today + timedelta(days=2)) == 0
    assert "Payment reminders: none: reminders are off in Settings." in signed_in_admin.get(
        f"/invoices/{in_three.id}").get_data(as_text=True)


def test_a_customer_stops_reminders_with_the_signed_link_and_still_gets_invoices(smtp, app, make_invoice, staff,
                                                                               signed_in_staff):
    from datetime import timedelta

    from flask.testing import FlaskClient

    from portal.mail.reminders import send_due_reminders
    from portal.merchant import merchant_settings
    from portal.models import AuditEvent, ReminderOptOut

    today = merchant_settings().today()
    invoice = issue(make_invoice, staff, due_date=(today - timedelta(days=3)).isoformat())
    send_due_reminders(today)
    run_due_jobs()
    [reminder] = [m for m in smtp.received if m["Subject"].startswith("Overdue")]
    link = re.search(r"Open (https://portal.example/reminders/stop/\S+)", reminder.get_body(("plain",)).get_content()).group(1)
    assert f'href="{link}"' in reminder.get_body(("html",)).get_content()
    assert reminder["List-Unsubscribe"].strip() == f"<{link}>"  # folded onto its own line: it is long
    assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [issued] = [m for m in smtp.received if m["Subject"].startswith("Invoice")]
    assert issued["List-Unsubscribe"] is None  # invoices are not "reminders": nothing to stop there
    path = link.removeprefix("https://portal.example")

    anonymous = app.test_client()
    assert isinstance(anonymous, FlaskClient)
    asked = anonymous.get(path)  # a link scanner or a curious click: it only asks
    assert asked.status_code == 200 and "Stop payment reminders" in asked.get_data(as_text=True)
    assert "a…@example.com" in asked.get_data(as_text=True) and "asha@example.com" not in asked.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(ReminderOptOut.id))) == 0
    # Forged and tampered links are refused and change nothing.
    token = path.rsplit("/", 1)[1]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "MQ", "x" * 300):
        assert anonymous.post(f"/reminders/stop/{bad}", data={}).status_code == 404
    assert db.session.scalar(db.select(db.func.count(ReminderOptOut.id))) == 0

    # The mail app's one-click POST: no cookie, no CSRF token; the signature is the authority.
    stopped = anonymous.post(path, data={"List-Unsubscribe": "One-Click"})
    assert stopped.status_code == 200 and "will send no more payment" in stopped.get_data(as_text=True)
    assert anonymous.post(path, data={}).status_code == 200  # twice is still once
    assert db.session.scalars(db.select(ReminderOptOut.address)).all() == ["asha@example.com"]
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "reminders.stopped")).one()
    assert event.actor_label == "the customer" and "one click" in event.summary

    before = len(smtp.received)
    for days in range(1, 15):
        send_due_reminders(today + timedelta(days=days))
    second = issue(make_invoice, staff, due_date=today.isoformat(), email="ASHA@example.com")  # any case
    send_due_reminders(today)
    run_due_jobs()
    arrived = [m["Subject"] for m in smtp.received[before:]]
    assert arrived == [f"Invoice {second.number} from HisabPro Demo Store: ₹2,469.00 due"]  # invoices still go
    page = signed_in_staff.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Payment reminders: none: the customer unsubscribed from reminders on" in page

    resumed = anonymous.post(path, data={"action": "resume"})
    assert "are on again" in resumed.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(ReminderOptOut.id))) == 0
    assert send_due_reminders(today) == 1  # the second invoice's due-date reminder
