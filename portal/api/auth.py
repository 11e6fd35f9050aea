"""Bearer-token authentication for `/api/v1`."""
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
        row.last_used_at = utcnow()
        db.session.commit()
        g.api_user = row.user
        return view(*args, **kwargs)

    return wrapped
