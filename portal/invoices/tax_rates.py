"""Tax rates: admins add, rename, re-rate, archive and restore them; staff pick them on invoice lines.

A line copies the rate's name and percent when it is saved, so changing or archiving a rate never
changes an invoice already written; archived rates are simply no longer offered for new lines.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import admin_required
from ..extensions import db
from ..models import AuditEvent, TaxRate, utcnow
from . import bp
from .service import CONTROL_CHARS, parse_milli


def _rate_or_404(rate_id: int) -> TaxRate:
    rate = db.session.get(TaxRate, rate_id) if rate_id < 2**31 else None
    if rate is None:
        abort(404, "There is no such tax rate.")
    return rate


def _check(form, rate: TaxRate | None) -> tuple[str, int, dict]:
    errors: dict[str, str] = {}
    name = (form.get("name") or "").strip()
    if not name:
        errors["name"] = "is required, e.g. GST 18%"
    elif len(name) > 100 or CONTROL_CHARS.search(name):
        errors["name"] = "must be at most 100 characters of text"
    else:
        clash = db.session.scalar(db.select(TaxRate).where(TaxRate.name == name, TaxRate.archived_at.is_(None)))
        if clash is not None and clash is not rate:
            errors["name"] = "is already the name of a rate in use"
    percent = 0
    try:
        percent = parse_milli(form.get("percent", ""), "percent", 100)
    except ValueError as exc:
        errors["percent"] = str(exc).replace("is too large (at most 100)", "must be at most 100")
    return name, percent, errors


def _page(errors=None, form=None, status=200):
    rates = db.session.scalars(db.select(TaxRate).order_by(TaxRate.archived_at.is_not(None), TaxRate.name)).all()
    return render_template("invoices/tax_rates.html", rates=rates, errors=errors or {}, form=form or {}), status


@bp.get("/settings/tax-rates")
@admin_required
def tax_rates():
    return _page()


@bp.post("/settings/tax-rates")
@admin_required
def create_tax_rate():
    name, percent, errors = _check(request.form, None)
    if errors:
        return _page(errors, request.form, 422)
    rate = TaxRate(name=name, percent_milli=percent)
    db.session.add(rate)
    db.session.flush()
    AuditEvent.record(current_user, "tax_rate.created", "tax_rate", rate.id, f"{rate.name}: {rate.percent} %")
    db.session.commit()
    flash(f"Tax rate {rate.name} added.", "success")
    return redirect(url_for("invoices.tax_rates")), 303


@bp.post("/settings/tax-rates/<id:rate_id>")
@admin_required
def update_tax_rate(rate_id: int):
    rate = _rate_or_404(rate_id)
    name, percent, errors = _check(request.form, rate)
    if errors:
        flash(f"{rate.name} was not changed: " + "; ".join(f"{k} {v}" for k, v in errors.items()), "error")
        return redirect(url_for("invoices.tax_rates")), 303
    before = f"{rate.name}: {rate.percent} %"
    rate.name, rate.percent_milli = name, percent
    AuditEvent.record(current_user, "tax_rate.edited", "tax_rate", rate.id, f"{before} → {rate.name}: {rate.percent} %")
    db.session.commit()
    flash(f"Tax rate {rate.name} saved; invoices already written keep the rate they had.", "success")
    return redirect(url_for("invoices.tax_rates")), 303


@bp.post("/settings/tax-rates/<id:rate_id>/archive")
@admin_required
def archive_tax_rate(rate_id: int):
    rate = _rate_or_404(rate_id)
    if rate.archived_at is None:
        rate.archived_at = utcnow()
        AuditEvent.record(current_user, "tax_rate.archived", "tax_rate", rate.id, rate.name)
        db.session.commit()
    flash(f"{rate.name} archived: no longer offered for new lines; invoices that use it keep it.", "success")
    return redirect(url_for("invoices.tax_rates")), 303


@bp.post("/settings/tax-rates/<id:rate_id>/restore")
@admin_required
def restore_tax_rate(rate_id: int):
    rate = _rate_or_404(rate_id)
    clash = db.session.scalar(db.select(TaxRate).where(TaxRate.name == rate.name, TaxRate.archived_at.is_(None)))
    if clash is not None and clash is not rate:
        flash(f"Another rate in use is named {rate.name}; rename one of them first.", "error")
    elif rate.archived_at is not None:
        rate.archived_at = None
        AuditEvent.record(current_user, "tax_rate.restored", "tax_rate", rate.id, rate.name)
        db.session.commit()
        flash(f"{rate.name} is offered again.", "success")
    return redirect(url_for("invoices.tax_rates")), 303
