"""Email to customers (issue 13): an outbox row per message, written with the change that causes it, sent over
SMTP by the job worker (smtp.py), readable on the Outbox page (routes.py) whether or not SMTP_URL is set."""
from flask import Blueprint

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

from . import reminders, routes, smtp  # noqa: E402,F401  (they register the send_mail and send_reminders jobs)
from .unsubscribe import public  # noqa: E402  (the customer's page to stop reminders)
