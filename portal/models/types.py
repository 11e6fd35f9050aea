"""Column types shared by the models."""
from datetime import datetime, timezone

from sqlalchemy import DateTime, String, Text
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database.

    SQLite keeps no offset, so values are stored as naive UTC and given their tzinfo back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def storable_text(value: str, length: int | None = None) -> str:
    """Any text as both databases will store it: NUL (refused by PostgreSQL) and lone surrogates (which
    neither database can encode, e.g. from a JSON "\\ud800") become visible backslash escapes, and the
    value is cut to the column's length (PostgreSQL refuses longer values; SQLite would keep them)."""
    text = value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:length] if length else text


class ForeignString(TypeDecorator):
    """A string that came from outside (a gateway's headers or body, or an attacker posing as one): whatever
    it holds, the row is written. Comparisons go through the same conversion, so lookups still match."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return storable_text(value, getattr(self.impl, "length", None))


class ForeignText(ForeignString):
    """ForeignString without a length limit."""

    impl = Text
    cache_ok = True
