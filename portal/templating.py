"""Jinja helpers: money and date formatting in templates."""
from flask import Flask

from .merchant import merchant_settings
from .merchant.profile import describe_reminder_days
from .money import Money
from .totals import format_milli


def init_app(app: Flask) -> None:
    @app.template_filter("money")
    def money_filter(minor: int, currency: str) -> str:
        return Money(minor, currency).format()

    @app.template_filter("percent_milli")
    def percent_milli_filter(milli: int) -> str:
        return format_milli(milli)

    @app.template_filter("datetime")
    def datetime_filter(value) -> str:
        # On the merchant's clock, with the zone's abbreviation, so a time is never read in the wrong zone.
        return merchant_settings().local(value).strftime("%Y-%m-%d %H:%M %Z") if value else ""

    @app.template_filter("date")
    def date_filter(value) -> str:
        return value.isoformat() if value else ""

    @app.template_global("reminder_step")
    def reminder_step(day: int) -> str:
        return describe_reminder_days((day,))

    @app.template_filter("status_label")
    def status_label(status: str) -> str:
        return status.replace("_", " ").capitalize()
