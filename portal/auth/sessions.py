"""Signing this browser in and out around the events that end every session of a user.

Sessions and remember-me cookies carry "<user id>:<session version>" (User.get_id); raising the
version (User.end_sessions) makes every one issued before it fail in the user loader.
"""
from flask import current_app, request, session
from flask_login import login_user, logout_user
from flask_login.config import COOKIE_NAME as DEFAULT_REMEMBER_COOKIE

from ..models import User


def keep_this_browser_signed_in(user: User) -> None:
    """After ending every session of `user`, sign this browser in again under the new version."""
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", DEFAULT_REMEMBER_COOKIE)
    login_user(user, remember=remember_cookie in request.cookies)


def sign_this_browser_out() -> None:
    session.clear()
    logout_user()  # after clear(), so its note to delete the remember-me cookie survives
