"""Bearer-token authentication for `/api/v1`."""
from datetime import timedelta
from functools import wraps

from flask import g, request

from ..errors import json_error
from ..extensions import db
from ..models import ApiToken, utcnow


def token_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            response = json_error(401, "unauthorized", "Send an API token as 'Authorization: Bearer <token>'.")
            response[0].headers["WWW-Authenticate"] = 'Bearer realm="hisabpro"'
            return response
        row = ApiToken.find_active(token.strip())
        if row is None:
            response = json_error(401, "invalid_token", "That API token is unknown, revoked, or its user is inactive.")
            response[0].headers["WWW-Authenticate"] = 'Bearer realm="hisabpro", error="invalid_token"'
            return response
        _note_use(row)
        g.api_user = row.user
        return view(*args, **kwargs)

    return wrapped


# "Last used" is for people reviewing tokens: to the minute is enough, and a write per call is not free.
LAST_USED_PRECISION = timedelta(minutes=1)


def _note_use(row: ApiToken) -> None:
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_PRECISION:
        return
    # One conditional UPDATE (concurrent calls in the same minute write once) in a transaction of its own on
    # its own connection: the request's session is neither committed nor expired, so the token and user
    # just read are not read again.
    with db.engine.begin() as connection:
        connection.execute(db.update(ApiToken).where(ApiToken.id == row.id,
                                                     db.or_(ApiToken.last_used_at.is_(None),
                                                            ApiToken.last_used_at < now - LAST_USED_PRECISION))
                           .values(last_used_at=now))
