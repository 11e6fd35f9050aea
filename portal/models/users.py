"""Staff accounts and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, contains_eager, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import UTCDateTime, utcnow

ROLES = ("admin", "staff")
MIN_PASSWORD_LENGTH = 12
# A hash to compare against when the account does not exist, so a wrong email costs as much
# time as a wrong password and the two cannot be told apart by timing.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
# Werkzeug 3's default, spelled out. Only the tests' app config lowers it (PASSWORD_HASH_METHOD), to save the
# ~0.1 s each hash costs on every signed-in test; it is not read from the environment.
PASSWORD_HASH_METHOD = "scrypt:32768:8:1"


def generate_password() -> str:
    """A password for `users create` and the demo seed: ~128 bits, easy to copy."""
    return secrets.token_urlsafe(16)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(10), default="staff")
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session's and remember-me cookie's user id: raising it ends them all at once.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")

    def set_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
        from flask import current_app

        self.password_hash = generate_password_hash(
            password, method=current_app.config.get("PASSWORD_HASH_METHOD", PASSWORD_HASH_METHOD))

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @staticmethod
    def burn_password_check(password: str) -> None:
        check_password_hash(_DUMMY_HASH, password)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie: "<id>:<session_version>"."""
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """Every session and remember-me cookie issued so far stops working on its next request."""
        self.session_version = (self.session_version or 1) + 1

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def label(self) -> str:
        return self.name or self.email

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    PREFIX = "hp_"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")

    @classmethod
    def issue(cls, user: User) -> tuple[ApiToken, str]:
        """Create a token row; the plain token is returned once and never stored."""
        plain = cls.PREFIX + secrets.token_urlsafe(32)
        row = cls(user=user, token_hash=hash_token(plain), hint=plain[:7])
        return row, plain

    @classmethod
    def find_active(cls, plain: str) -> ApiToken | None:
        # Token and user in one query: every API call starts here.
        row = db.session.scalar(db.select(cls).join(cls.user).options(contains_eager(cls.user))
                                .where(cls.token_hash == hash_token(plain)))
        if row is None or row.revoked_at is not None or not row.user.active:
            return None
        return row
