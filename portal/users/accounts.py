"""Creating and changing staff accounts: shared by the admin pages and the CLI."""
from ..extensions import db
from ..models import ROLES, AuditEvent, User, generate_password, normalize_email


class AccountError(ValueError):
    pass


class WrongPasswordError(AccountError):
    pass


def create_user(email: str, role: str, actor: User | None, name: str = "",
                password: str | None = None, via: str | None = None) -> tuple[User, str]:
    """Create an account; returns it with its password (generated unless given)."""
    email = normalize_email(email)
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address.")
    if role not in ROLES:
        raise AccountError(f"Role must be one of: {', '.join(ROLES)}.")
    if db.session.scalar(db.select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"There is already an account for {email}.")
    password = password or generate_password()
    user = User(email=email, name=name.strip(), role=role)
    try:
        user.set_password(password)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    db.session.add(user)
    db.session.flush()
    AuditEvent.record(actor, "user.created", "user", user.id, f"{email} as {role}", via=via)
    db.session.commit()
    return user, password


def _other_active_admins(user: User) -> int:
    return db.session.scalar(
        db.select(db.func.count(User.id)).where(User.role == "admin", User.active.is_(True), User.id != user.id)
    )


def change_role(user: User, role: str, actor: User) -> None:
    if role not in ROLES:
        raise AccountError(f"Role must be one of: {', '.join(ROLES)}.")
    if user.role == "admin" and role != "admin" and _other_active_admins(user) == 0:
        raise AccountError("This is the last active administrator; make someone else an admin first.")
    old, user.role = user.role, role
    if old != role:
        user.end_sessions()  # a session must not keep rights it no longer has, nor miss new limits
    AuditEvent.record(actor, "user.role_changed", "user", user.id, f"{user.email}: {old} → {role}")
    db.session.commit()


def set_active(user: User, active: bool, actor: User) -> None:
    if user.id == actor.id and not active:
        raise AccountError("You cannot deactivate your own account.")
    if not active and user.role == "admin" and _other_active_admins(user) == 0:
        raise AccountError("This is the last active administrator; it cannot be deactivated.")
    user.active = active
    if not active:
        user.end_sessions()  # so reactivating later does not revive old cookies
    AuditEvent.record(actor, "user.activated" if active else "user.deactivated", "user", user.id, user.email)
    db.session.commit()


def reset_password(user: User, actor: User) -> str:
    password = generate_password()
    user.set_password(password)
    user.end_sessions()  # whoever knew the old password may hold a session or remember-me cookie
    AuditEvent.record(actor, "user.password_reset", "user", user.id, user.email)
    db.session.commit()
    return password


def change_own_password(user: User, current: str, new: str) -> None:
    """Self-service change: the current password is required, and every other session ends."""
    if not user.check_password(current):
        raise WrongPasswordError("Your current password is not right.")
    try:
        user.set_password(new)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    user.end_sessions()
    AuditEvent.record(user, "user.password_changed", "user", user.id, user.email)
    db.session.commit()


def end_sessions(user: User, actor: User) -> None:
    """Sign a user out of every browser: by themselves, or by an admin for them."""
    user.end_sessions()
    if actor.id == user.id:
        AuditEvent.record(actor, "user.signed_out_everywhere", "user", user.id, user.email)
    else:
        AuditEvent.record(actor, "user.sessions_ended", "user", user.id, f"{user.email}: every session ended")
    db.session.commit()
