"""Device cookies (OWASP's pattern against lockout attacks): a browser that has signed in to an
account before proves it on the next sign-in and is not locked out by failures from elsewhere.

The cookie is signed with SECRET_KEY and binds the user id to a random nonce; failures are counted
per nonce (see throttle), so a stolen or guessing device cookie only spends its own budget.
"""
import secrets

from flask import after_this_request, current_app, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..models import User

COOKIE = "hisabpro_device"
SALT = "hisabpro.device-cookie"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _max_age() -> int:
    return current_app.config["LOGIN_DEVICE_COOKIE_DAYS"] * 24 * 3600


def nonce_for(user: User | None) -> str | None:
    """The nonce of this browser's device cookie if it is genuine, unexpired and for `user`."""
    token = request.cookies.get(COOKIE)
    if user is None or not token:
        return None
    try:
        claims = _serializer().loads(token, max_age=_max_age())
    except BadSignature:  # also covers expiry
        return None
    if not isinstance(claims, dict) or claims.get("u") != user.id or not isinstance(claims.get("n"), str):
        return None
    return claims["n"]


def remember(user: User) -> None:
    """Give this browser a fresh device cookie for `user` with the response."""
    token = _serializer().dumps({"u": user.id, "n": secrets.token_urlsafe(16)})

    @after_this_request
    def set_cookie(response):
        response.set_cookie(COOKIE, token, max_age=_max_age(), path=url_for("auth.login"), httponly=True,
                            secure=current_app.config["SESSION_COOKIE_SECURE"], samesite="Strict")
        return response


def forget() -> None:
    """Drop this browser's device cookie with the response (it failed too often)."""
    @after_this_request
    def delete_cookie(response):
        response.delete_cookie(COOKIE, path=url_for("auth.login"), httponly=True,
                               secure=current_app.config["SESSION_COOKIE_SECURE"], samesite="Strict")
        return response
