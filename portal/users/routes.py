from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ..auth import admin_required
from ..extensions import db
from ..models import User
from . import bp
from .accounts import AccountError, change_role, create_user, reset_password, set_active
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
    return render_template("users/index.html", users=users, form=FlaskForm(), role_form=RoleForm())


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
    return render_template("users/password.html", user=user, password=password, created=False)
