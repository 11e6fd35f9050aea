"""Creating and changing staff accounts: shared by the admin pages and the CLI."""
from ..extensions import db
from ..models import ROLES, AuditEvent, User, generate_password, normalize_email


class AccountError(ValueError):
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
    AuditEvent.record(actor, "user.role_changed", "user", user.id, f"{user.email}: {old} → {role}")
    db.session.commit()


def set_active(user: User, active: bool, actor: User) -> None:
    if user.id == actor.id and not active:
        raise AccountError("You cannot deactivate your own account.")
    if not active and user.role == "admin" and _other_active_admins(user) == 0:
        raise AccountError("This is the last active administrator; it cannot be deactivated.")
    user.active = active
    AuditEvent.record(actor, "user.activated" if active else "user.deactivated", "user", user.id, user.email)
    db.session.commit()


def reset_password(user: User, actor: User) -> str:
    password = generate_password()
    user.set_password(password)
    AuditEvent.record(actor, "user.password_reset", "user", user.id, user.email)
    db.session.commit()
    return password
