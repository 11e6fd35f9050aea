"""The daily rollup behind the Statistics page (portal/statistics/numbers.py): per merchant day, gateway and
currency, the counts and sums the page shows, so a period costs the same with a thousand attempts or a
million. Only complete days are stored; the day still under way is always computed from the raw rows."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class StatisticsDaily(db.Model):
    """One number for one merchant day: `metric` (attempts, latency, collected...) under `key` (a latency
    bucket in ms, a failure reason; '' when the metric has none). `gateway` and `currency` are '' when the
    number belongs to none (a click no gateway could serve; breaker openings, which are per gateway)."""

    __tablename__ = "statistics_daily"
    __table_args__ = (Index("ix_statistics_daily_day_metric", "day", "metric"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class StatisticsRollup(db.Model):
    """How far the rollup reaches: every merchant day up to `rolled_through` (inclusive), counted in the
    time zone `time_zone`. A change of the merchant's time zone makes the stored days useless: they are
    dropped and counted again."""

    __tablename__ = "statistics_rollup"

    id: Mapped[int] = mapped_column(primary_key=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    rolled_through: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
