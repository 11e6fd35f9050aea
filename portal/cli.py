"""Command line: `flask --app wsgi users create …`, `api-tokens create …`, `demo seed` (docs/cli.md)."""
import sys
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .extensions import db
from .models import ApiToken, AuditEvent, TaxRate, User, normalize_email, utcnow
from .money import Money
from .users.accounts import AccountError, create_user

users_cli = AppGroup("users", help="Manage staff accounts.")
tokens_cli = AppGroup("api-tokens", help="Manage API tokens.")
demo_cli = AppGroup("demo", help="Demo data for trying the portal locally.")
payments_cli = AppGroup("payments", help="Payment gateways: configuration self-check, reconciliation.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "staff"]), required=True)
@click.option("--name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(email, role, name, password_stdin):
    """Create a staff account; prints a generated password unless one is piped in."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        user, password = create_user(email, role, None, name=name, password=password, via="cli")
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.role} {user.email}")
    if not password_stdin:
        click.echo(f"Password: {password}")


@tokens_cli.command("create")
@click.argument("email")
def create_token_command(email):
    """Print a new API token for EMAIL (last line of output). It is shown only this once."""
    user = db.session.scalar(db.select(User).where(User.email == normalize_email(email)))
    if user is None or not user.active:
        raise click.ClickException(f"No active account for {email}.")
    row, plain = ApiToken.issue(user)
    db.session.add(row)
    db.session.flush()
    AuditEvent.record(None, "api_token.created", "user", user.id, f"token {row.hint}… for {user.email}", via="cli")
    db.session.commit()
    click.echo(f"API token for {user.email} (store it now; it is not shown again):", err=True)
    click.echo(plain)


DEMO_ADMIN = "admin@hisabpro.local"


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-credentials.txt"


@demo_cli.command("seed")
def seed_command():
    """First run: a demo admin and sample invoices. Later runs: print the still-valid login again."""
    from .invoices import service

    path = _credentials_file()
    admin = db.session.scalar(db.select(User).where(User.email == DEMO_ADMIN))
    if admin is None:
        admin, password = create_user(DEMO_ADMIN, "admin", None, name="Demo Admin", via="demo seed")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        # Tax rates a merchant here would define first (admins edit them under Tax rates).
        rates = [TaxRate(name=n, percent_milli=p) for n, p in
                 (("GST 18%", 18_000), ("GST 5%", 5_000), ("Sales tax 8.875%", 8_875))]
        db.session.add_all(rates)
        db.session.commit()
        samples = [
            ("Asha Traders", "asha@example.com", "INR", [("Website design", 1, "45000.00", "GST 18%"),
                                                         ("Hosting (12 months)", 12, "499.50", "GST 18%"),
                                                         ("Design review (hours)", "1.5", "2000.00", "GST 5%")]),
            ("Blue Fern LLC", "ap@bluefern.example", "USD", [("Consulting hours", 10, "120.00", "Sales tax 8.875%")]),
            ("Kobe Imports", "billing@kobe.example", "JPY", [("Tea sets", 3, "4800", None)]),
            ("Gulf Supplies", "accounts@gulf.example", "KWD", [("Spare parts", 2, "12.750", None)]),
        ]
        for name, email, currency, items in samples:
            parsed = service.parse_invoice_input({
                "customer": {"name": name, "email": email},
                "currency": currency,
                "items": [{"description": d, "quantity": q, "unit_price": p, "tax_rate": r} for d, q, p, r in items],
                "due_date": (utcnow() + timedelta(days=14)).date().isoformat(),
            })
            invoice = service.create_invoice(parsed, admin, via="demo seed")
            if currency != "KWD":
                service.open_invoice(invoice, admin, via="demo seed")
        click.echo(f"Created the demo admin and {len(samples)} sample invoices.")
    if _seed_history(admin):
        click.echo(f"Added {len(HISTORY)} invoices from the last 30 days, with their payments.")
    password = path.read_text().strip() if path.exists() else ""
    if password and admin.check_password(password):
        click.echo(f"Sign in at {current_app.config['FRONTEND_URL']}/login as {DEMO_ADMIN} / {password}")
    else:
        click.echo(f"The demo admin {DEMO_ADMIN} has a password of its own now; "
                   f"reset it with 'flask --app wsgi users create' or from the Users page.")


# A month of business for Home to show: (customer, email, currency, [(item, qty, price)], issued days ago,
# due days after issue, [(days ago, hour, amount paid, gateway)]). Paid, part-paid, overdue and open.
HISTORY = [
    ("Sharma Textiles", "priya@sharma-textiles.example", "INR", [("Catalogue photography", 1, "38000.00")], 29, 7,
     [(27, 11, "38000.00", "razorpay")]),
    ("Nair & Sons", "accounts@nairsons.example", "INR", [("Shop signage", 2, "12500.00")], 27, 10,
     [(24, 15, "25000.00", "razorpay")]),
    ("Blue Fern LLC", "ap@bluefern.example", "USD", [("Consulting hours", 12, "120.00")], 26, 14,
     [(20, 18, "1440.00", "stripe")]),
    ("Kaveri Foods", "finance@kaveri.example", "INR", [("Packaging design", 1, "54000.00")], 25, 15,
     [(18, 10, "20000.00", "razorpay")]),
    ("Mehta Clinic", "admin@mehtaclinic.example", "INR", [("Website care (quarter)", 1, "18000.00")], 24, 7, []),
    ("Oakridge Partners", "billing@oakridge.example", "USD", [("Brand workshop", 1, "2400.00")], 22, 14,
     [(15, 16, "1200.00", "paypal")]),
    ("Sharma Textiles", "priya@sharma-textiles.example", "INR", [("Lookbook printing", 300, "85.00")], 20, 7,
     [(16, 12, "25500.00", "razorpay")]),
    ("Gupta Logistics", "ap@guptalogistics.example", "INR", [("Fleet livery design", 1, "72000.00")], 18, 10, []),
    ("Blue Fern LLC", "ap@bluefern.example", "USD", [("Consulting hours", 8, "120.00")], 14, 14,
     [(9, 19, "960.00", "stripe")]),
    ("Nair & Sons", "accounts@nairsons.example", "INR", [("Festival posters", 40, "450.00")], 12, 7,
     [(10, 13, "9000.00", "razorpay"), (4, 11, "9000.00", "razorpay")]),
    ("Lotus Yoga", "hello@lotusyoga.example", "INR", [("Class timetable app", 1, "26500.00")], 10, 5, []),
    ("Kaveri Foods", "finance@kaveri.example", "INR", [("Label reprint", 5000, "3.20")], 8, 14,
     [(6, 17, "16000.00", "razorpay")]),
    ("Oakridge Partners", "billing@oakridge.example", "USD", [("Pitch deck", 1, "950.00")], 6, 14,
     [(3, 20, "950.00", "stripe")]),
    ("Mehta Clinic", "admin@mehtaclinic.example", "INR", [("Appointment reminders setup", 1, "14500.00")], 5, 14,
     [(2, 10, "14500.00", "razorpay")]),
    ("Gupta Logistics", "ap@guptalogistics.example", "INR", [("Route map poster", 3, "2200.00")], 3, 14,
     [(1, 14, "3000.00", "razorpay")]),
    ("Lotus Yoga", "hello@lotusyoga.example", "INR", [("Instagram templates", 12, "750.00")], 2, 14,
     [(0, 9, "9000.00", "razorpay")]),
    ("Blue Fern LLC", "ap@bluefern.example", "USD", [("Consulting hours", 5, "120.00")], 1, 14, []),
]


def _seed_history(admin: User) -> bool:
    """Add HISTORY once (it is found again by its first customer's email): a lived-in Home for the demo."""
    from .invoices import service
    from .merchant import merchant_settings
    from .models import Customer, MerchantSetting, Payment

    if db.session.scalar(db.select(Customer.id).where(Customer.email == HISTORY[0][1]).limit(1)) is not None:
        return False
    if db.session.get(MerchantSetting, 1) is None:  # the name stays MERCHANT_NAME's until an admin sets one
        db.session.add(MerchantSetting(id=1, business_name="", address="2nd floor, 14 Residency Road\nBengaluru 560025",
                                       tax_id="29AAACH1234K1Z5", invoice_footer="Thank you for your business."))
        db.session.commit()
    profile = merchant_settings()
    today, now = profile.today(), utcnow()
    for index, (name, email, currency, items, issued_ago, terms, payments) in enumerate(HISTORY):
        issued = profile.start_of(today - timedelta(days=issued_ago)) + timedelta(hours=10)
        parsed = service.parse_invoice_input({
            "customer": {"name": name, "email": email}, "currency": currency,
            "items": [{"description": d, "quantity": q, "unit_price": p} for d, q, p in items],
            "due_date": (today - timedelta(days=issued_ago - terms)).isoformat()})
        invoice = service.create_invoice(parsed, admin, via="demo seed")
        service.open_invoice(invoice, admin, via="demo seed")
        invoice.created_at = invoice.opened_at = issued
        for number, (days_ago, hour, amount, gateway) in enumerate(payments):
            received = min(now, profile.start_of(today - timedelta(days=days_ago)) + timedelta(hours=hour))
            money = Money.parse(amount, currency)
            invoice.record_payment(money)
            if invoice.paid_at is not None:
                invoice.paid_at = received
            db.session.add(Payment(invoice_id=invoice.id, gateway=gateway, currency=currency,
                                   payment_id=f"demo_{index:02d}_{number}", amount_minor=money.minor,
                                   source="reconcile", received_at=received))
        db.session.commit()
    return True


CHECK_AMOUNTS = {"razorpay": ("INR", 100), "stripe": ("USD", 50), "paypal": ("USD", 100)}


@payments_cli.command("check")
def check_command():
    """Per gateway: its state in the words the Gateways page uses, then configured, credentials accepted, a
    test link created and cancelled, webhook secret set. Exits 1 when a configured gateway fails any check."""
    import secrets
    from datetime import timedelta

    from .merchant import merchant_settings
    from .money import Money
    from .payments import health, registry
    from .payments.base import GatewayError, LinkRequest

    config = current_app.config
    failed = False
    states = health.current(merchant_settings().zone)  # before our own calls below, which it does not count
    for name, cls in registry.all_classes().items():
        problems = cls.configuration_problems(config)
        gateway = registry.get_gateway(name, config)
        if gateway is None:
            line = states[name].sentence + (f" ({'; '.join(problems)})" if problems else "")
            click.echo(f"{cls.display_name:<9} {line}")
            failed = failed or bool(problems)
            continue
        results = []
        for problem in problems:
            results.append(f"FAIL {problem}")
        timeout = gateway.settings.timeout
        try:
            gateway.check_credentials(timeout)
            results.append("credentials accepted")
        except GatewayError as exc:
            results.append(f"FAIL credentials: {exc.kind} {exc.code}: {exc.message}")
        if not gateway.test_mode:
            results.append("live keys: test link skipped (it would be a real link)")
        elif not any(r.startswith("FAIL") for r in results):
            currency, minor = CHECK_AMOUNTS.get(name, ("USD", 100))
            request = LinkRequest(
                invoice_id=0, invoice_number="CHECK", amount=Money(minor, currency),
                reference=f"check-{name}-{secrets.token_hex(6)}", description="HisabPro configuration check",
                customer_name="HisabPro check", customer_email="check@example.com", customer_phone="",
                return_url=config["FRONTEND_URL"] + "/", cancel_url=config["FRONTEND_URL"] + "/",
                expires_at=(utcnow() + timedelta(hours=1)).replace(microsecond=0))
            try:
                link = gateway.create_link(request, timeout)
                gateway.cancel_link(link.link_id, timeout)
                results.append(f"test link created and cancelled ({link.link_id})")
            except GatewayError as exc:
                results.append(f"FAIL test link: {exc.kind} {exc.code}: {exc.message}")
        results.append("webhook secret set" if gateway.settings.webhook_secret else "FAIL webhook secret not set")
        gateway_failed = any(r.startswith("FAIL") for r in results)
        failed = failed or gateway_failed
        mode = "test" if gateway.test_mode else "live"
        click.echo(f"{cls.display_name:<9} {'FAILED' if gateway_failed else 'ok'} ({mode}): " + "; ".join(results))
        click.echo(f"{'':<9} now: {states[name].sentence}")
    if failed:
        raise SystemExit(1)


@payments_cli.command("reconcile")
def reconcile_command():
    """Fetch every open link's state from its gateway, apply payments whose webhook never came,
    close dead links, and list mismatches for staff."""
    from .payments.reconcile import open_mismatches, reconcile

    report = reconcile()
    click.echo(f"Checked {report.checked} open links.")
    for title, lines in (("Applied", report.applied), ("Closed", report.closed),
                         ("Mismatches", report.mismatches), ("Could not reach", report.unreachable),
                         ("Refunds", report.refunds)):
        for line in lines:
            click.echo(f"{title}: {line}")
    mismatches = open_mismatches()
    click.echo(f"Open mismatches: {len(mismatches)}")
    for m in mismatches:
        click.echo(f"  #{m.id} {m.created_at:%Y-%m-%d %H:%M} {m.gateway} {m.kind}: {m.detail}")


@payments_cli.command("prune-webhooks")
def prune_webhooks_command():
    """Delete webhook deliveries older than WEBHOOK_RETENTION_DAYS, except unapplied ones and those whose
    mismatch is still open. The job worker does this every WEBHOOK_PRUNE_INTERVAL_SECONDS."""
    from .webhooks.retention import prune

    deleted = prune()
    click.echo(f"Deleted {deleted} webhook deliveries older than {current_app.config['WEBHOOK_RETENTION_DAYS']} days.")


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(payments_cli)
