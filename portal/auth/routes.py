import re
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user

from ..extensions import db, limiter, login_manager
from ..models import AuditEvent, User, normalize_email, utcnow
from ..users.accounts import AccountError, WrongPasswordError, change_own_password, end_sessions
from . import bp, throttle
from .sessions import keep_this_browser_signed_in, sign_this_browser_out
from .forms import LoginForm, PasswordChangeForm

BAD_CREDENTIALS = "That email and password do not match an active account."
# The same words whether or not the account exists.
REFUSALS = {
    throttle.LOCKED: "Too many failed sign-in attempts for this account. Wait a few minutes and try again.",
    throttle.SLOWED_DOWN: "Sign-in to this account is slowed down after many failed attempts. Wait a few "
                          "minutes and try again, or use a browser you have signed in with before.",
}


# What User.get_id() writes into sessions and remember-me cookies; bounded so no id overflows a column.
SESSION_ID_RE = re.compile(r"([0-9]{1,18}):([0-9]{1,9})")


@login_manager.user_loader
def load_user(session_id: str):
    match = SESSION_ID_RE.fullmatch(session_id)
    if match is None:
        return None  # includes the bare "<id>" of cookies issued before session versions
    user = db.session.get(User, int(match.group(1)))
    # A deactivated account, or one whose sessions were ended since this cookie was issued,
    # loses its open sessions at once, not at their expiry.
    if user is None or not user.active or user.session_version != int(match.group(2)):
        return None
    return user


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
@limiter.limit(_login_ip_limit, methods=["POST"], key_func=throttle.client_network)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = normalize_email(form.email.data)
        user = db.session.scalar(db.select(User).where(User.email == email))
        attempt = throttle.begin(email, user)
        refusal = throttle.refusal(attempt)
        if refusal is not None:
            User.burn_password_check(form.password.data)
            flash(REFUSALS[refusal], "error")
            status = 429
        elif user is None or not user.active:
            User.burn_password_check(form.password.data)
            throttle.record_failure(attempt, user)
            flash(BAD_CREDENTIALS, "error")
            status = 401
        elif not user.check_password(form.password.data):
            throttle.record_failure(attempt, user)
            flash(BAD_CREDENTIALS, "error")
            status = 401
        else:
            throttle.record_success(attempt, user)
            session.clear()  # a fresh session on sign-in: no fixation
            login_user(user, remember=form.remember.data)
            user.last_login_at = utcnow()
            AuditEvent.record(user, "user.sign_in", "user", user.id)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")) or url_for("home.index"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    # Ends every session and remember-me cookie of this user, so a copied cookie is worthless too.
    user = current_user._get_current_object()
    user.end_sessions()
    AuditEvent.record(user, "user.sign_out", "user", user.id, user.email)
    db.session.commit()
    sign_this_browser_out()
    flash("You have signed out, in every browser.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account():
    return render_template("auth/account.html", form=PasswordChangeForm())


@bp.post("/account/password")
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        # Someone holding a stolen session must not get unlimited guesses at the password either.
        attempt = throttle.begin(user.email, user)
        refusal = throttle.refusal(attempt)
        if refusal is not None:
            form.current_password.errors.append(REFUSALS[refusal])
            return render_template("auth/account.html", form=form), 429
        try:
            change_own_password(user, form.current_password.data, form.new_password.data)
        except WrongPasswordError as exc:
            db.session.rollback()
            throttle.record_failure(attempt, user)
            form.current_password.errors.append(str(exc))
        except AccountError as exc:
            db.session.rollback()
            form.new_password.errors.append(str(exc))
        else:
            keep_this_browser_signed_in(user)
            flash("Your password is changed. Every other browser has been signed out.", "success")
            return redirect(url_for("auth.account")), 303
    return render_template("auth/account.html", form=form), 422


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    end_sessions(current_user._get_current_object(), current_user._get_current_object())
    sign_this_browser_out()
    flash("You have signed out in every browser, this one included.", "info")
    return redirect(url_for("auth.login"))
