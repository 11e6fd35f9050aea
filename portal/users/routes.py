from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ..auth import admin_required, throttle
from ..auth.sessions import keep_this_browser_signed_in
from ..extensions import db
from ..models import User
from . import bp
from .accounts import AccountError, change_role, create_user, end_sessions, reset_password, set_active
from .forms import RoleForm, UserForm


def get_user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, "There is no such user.")
    return user


@bp.get("/")
@admin_required
def index():
    users = db.session.scalars(db.select(User).order_by(User.email)).all()
    return render_template("users/index.html", users=users, form=FlaskForm(), role_form=RoleForm(),
                           failed_sign_ins=_failed_sign_ins(users), window=throttle.ceiling_window())


def _failed_sign_ins(users: list[User]) -> list[tuple[User, int, bool]]:
    """(user, failures in the ceiling's window, past the ceiling) for each account someone got wrong."""
    counts = [(user, throttle.recent_failures(user.email)) for user in users]
    return [(user, n, throttle.past_ceiling(user.email)) for user, n in counts if n]


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def create():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user, password = create_user(form.email.data, form.role.data, current_user, name=form.name.data or "")
        except AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            return render_template("users/password.html", user=user, password=password, created=True)
    status = 422 if form.errors else 200
    return render_template("users/form.html", form=form), status


@bp.post("/<id:user_id>/role")
@admin_required
def update_role(user_id: int):
    user = get_user_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400, "Choose a valid role.")
    try:
        change_role(user, form.role.data, current_user)
        _keep_signed_in_if_self(user)
        flash(f"{user.email} is now {user.role}.", "success")
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("users.index")), 303


@bp.post("/<id:user_id>/deactivate")
@admin_required
def deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.post("/<id:user_id>/activate")
@admin_required
def activate(user_id: int):
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool):
    user = get_user_or_404(user_id)
    try:
        set_active(user, active, current_user)
        flash(f"{user.email} {'can sign in again' if active else 'can no longer sign in'}.", "success")
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("users.index")), 303


@bp.post("/<id:user_id>/reset-password")
@admin_required
def reset(user_id: int):
    user = get_user_or_404(user_id)
    password = reset_password(user, current_user)
    _keep_signed_in_if_self(user)
    return render_template("users/password.html", user=user, password=password, created=False)


@bp.post("/<id:user_id>/sign-out-everywhere")
@admin_required
def sign_out_everywhere(user_id: int):
    user = get_user_or_404(user_id)
    end_sessions(user, current_user)
    _keep_signed_in_if_self(user)
    flash(f"{user.email} is signed out in every browser.", "success")
    return redirect(url_for("users.index")), 303


def _keep_signed_in_if_self(user: User) -> None:
    # Ending an admin's own sessions from this page must not also end the one doing it.
    if user.id == current_user.id:
        keep_this_browser_signed_in(user)
