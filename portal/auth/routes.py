from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter, login_manager
from ..models import AuditEvent, User, normalize_email, utcnow
from . import bp, throttle
from .forms import LoginForm

BAD_CREDENTIALS = "That email and password do not match an active account."
LOCKED = "Too many failed sign-in attempts for this account. Wait a few minutes and try again."


@login_manager.user_loader
def load_user(user_id: str):
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    # A deactivated account loses its open sessions at once, not at their expiry.
    return user if user is not None and user.active else None


login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"


def safe_next(target: str | None) -> str | None:
    """Follow `next` only to a path on this site (no scheme, no host, no `//` or `\\` tricks)."""
    if not target or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _login_ip_limit() -> str:
    return current_app.config["LOGIN_IP_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_ip_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("invoices.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = normalize_email(form.email.data)
        user = db.session.scalar(db.select(User).where(User.email == email))
        if throttle.is_locked(email):
            User.burn_password_check(form.password.data)
            flash(LOCKED, "error")
            status = 429
        elif user is None or not user.active:
            User.burn_password_check(form.password.data)
            throttle.record_failure(email)
            flash(BAD_CREDENTIALS, "error")
            status = 401
        elif not user.check_password(form.password.data):
            throttle.record_failure(email)
            flash(BAD_CREDENTIALS, "error")
            status = 401
        else:
            throttle.clear(email)
            session.clear()  # a fresh session on sign-in: no fixation
            login_user(user, remember=form.remember.data)
            user.last_login_at = utcnow()
            AuditEvent.record(user, "user.sign_in", "user", user.id)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")) or url_for("invoices.index"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))
