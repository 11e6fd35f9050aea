"""Settings page: admins edit the merchant's details and defaults; staff may not (403)."""
from zoneinfo import available_timezones

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import admin_required
from ..extensions import db
from ..models import AuditEvent
from . import bp
from ..config import parse_reminder_days
from .profile import (SettingsInputError, describe_reminder_days, offered_currencies, parse_settings_input,
                      save_settings, stored_values)


def _render(values: dict, errors: dict, status: int = 200):
    try:
        words = describe_reminder_days(parse_reminder_days(values.get("reminder_schedule") or ""))
    except ValueError:
        words = ""
    return render_template("merchant/settings.html", values=values, errors=errors, schedule_words=words,
                           mail_from=current_app.config["MAIL_FROM"] or "the portal's sending address",
                           currencies=offered_currencies(), time_zones=sorted(available_timezones())), status


@bp.get("/")
@admin_required
def edit():
    return _render(stored_values(), {})


@bp.post("/")
@admin_required
def save():
    try:
        values = parse_settings_input(request.form)
    except SettingsInputError as exc:
        shown = {name: request.form.get(name, "") for name in stored_values()}
        return _render(shown, exc.errors, 422)
    changed = save_settings(values)
    if changed:
        AuditEvent.record(current_user, "settings.changed", "setting", None, "changed " + ", ".join(
            name.replace("_", " ") for name in changed))
    db.session.commit()
    flash("Settings saved." if changed else "Nothing changed.", "success")
    return redirect(url_for("merchant.edit")), 303
