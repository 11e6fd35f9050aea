"""What a request may carry in its URL and form fields, decided in one place for every route.

- Path parameters are typed by URL converters registered in the app factory: `<id:...>` for row ids and
  `<token:...>` for pay tokens. A value the column cannot hold (an id past 2**31 - 1, a token with NUL)
  does not match the route, so it is a 404 before any view or query runs.
- Query parameters a view reads go through `query_int` and `query_text`, which refuse a bad value with
  400 naming the parameter (JSON `invalid_parameter` on /api and /webhooks, an error page elsewhere).
- A guard before every request refuses NUL and control characters in query strings, form fields and
  path segments: PostgreSQL can neither store nor compare text holding NUL, and no genuine client sends
  them. Webhook bodies are left alone: they are verified and stored byte for byte.
"""
from __future__ import annotations

import re
from datetime import date

from flask import Flask, abort, request
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.routing import BaseConverter

# One address: something@domain.tld, no spaces (what a customer's or merchant's email field must hold).
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Ids are INTEGER columns (32-bit on PostgreSQL): larger ones cannot exist, and comparing them errors.
MAX_ID = 2**31 - 1
# Far beyond any real listing, yet OFFSET (page - 1) * per_page stays inside a 64-bit integer.
MAX_PAGE = 1_000_000_000
MAX_PER_PAGE = 100
MAX_CURSOR_LENGTH = 100  # the API list's next_cursor is about 50 characters
MAX_SEARCH_LENGTH = 200  # a search box's text; longer than any number, name or email we hold
# No query value we read is anywhere near this long; a longer one is an attack or an accident.
MAX_QUERY_VALUE = 4096
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}", re.ASCII)
QUERY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FORM_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks are text in a form
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
RAW_BODY_BLUEPRINTS = {"webhooks"}  # they read the body's bytes themselves; parsing it as a form would eat it


class InvalidParameter(BadRequest):
    """400 with the code `invalid_parameter` in JSON answers (errors.py derives it from the name)."""

    name = "Invalid parameter"


class IdConverter(BaseConverter):
    """A row id: 1 up to what an INTEGER primary key holds on SQLite and PostgreSQL alike."""

    regex = r"[1-9][0-9]{0,9}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            # NotFound rather than ValidationError: Werkzeug would turn a failed conversion into a 405
            # when a sibling rule for another method matched the same path.
            raise NotFound(f"There is no such record: ids go up to {MAX_ID}.")
        return number

    def to_url(self, value) -> str:
        return str(int(value))


class TokenConverter(BaseConverter):
    """A pay token as `secrets.token_urlsafe` makes them, no longer than its column."""

    regex = r"[A-Za-z0-9_-]{1,64}"
    part_isolating = True


def query_int(name: str, default: int, maximum: int, minimum: int = 1) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    # ASCII digits only: str.isdigit() also accepts '²' or '١', which int() then rejects or misreads.
    if not WHOLE_NUMBER.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise InvalidParameter(f"'{name}' must be a whole number from {minimum} up to {maximum}.")
    return int(raw)


def query_text(name: str, default: str = "", max_length: int = MAX_SEARCH_LENGTH) -> str:
    """Text from the query string; control characters were already refused by the guard."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if len(raw) > max_length:
        raise InvalidParameter(f"'{name}' must be at most {max_length} characters long.")
    return raw


def query_choice(name: str, choices, default: str) -> str:
    """One of a fixed set of words (a sort column, a direction); anything else is refused with 400."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if raw not in choices:
        raise InvalidParameter(f"'{name[:40]}' must be one of: {', '.join(choices)}.")
    return raw


def query_date(name: str) -> date | None:
    """A calendar date written YYYY-MM-DD (what <input type=date> sends), or None when absent."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        if not ISO_DATE.fullmatch(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidParameter(f"'{name[:40]}' must be a date written YYYY-MM-DD, such as 2026-03-31.") from None


def _refuse_hostile_text() -> None:
    for name, value in request.args.items(multi=True):
        if QUERY_CONTROL.search(name) or QUERY_CONTROL.search(value):
            raise InvalidParameter("The query string must not contain NUL or control characters.")
        if len(value) > MAX_QUERY_VALUE:
            raise InvalidParameter(f"'{name[:40]}' must be at most {MAX_QUERY_VALUE} characters long.")
    if request.blueprint not in RAW_BODY_BLUEPRINTS and request.mimetype in FORM_MIMETYPES:
        for name, value in request.form.items(multi=True):
            if FORM_CONTROL.search(name) or FORM_CONTROL.search(value):
                raise InvalidParameter("Form fields must not contain NUL or control characters.")
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and QUERY_CONTROL.search(value):
            abort(404)


def init_app(app: Flask) -> None:
    """Register before any blueprint: a rule looks its converters up when it is added."""
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["token"] = TokenConverter
    app.before_request(_refuse_hostile_text)
