"""Logging: our own loggers at LOG_LEVEL, and no secret in any record whatever level an operator picks.

- SQL statement parameters never reach a log line or an exception message (`hide_parameters` in
  SQLALCHEMY_ENGINE_OPTIONS, config.py): a failed INSERT of a webhook delivery used to print its stored
  headers, Stripe-Signature included, into the 500 handler's traceback. SQLAlchemy's own loggers stay at the
  WARNING it gives them at import (at INFO they print statements, at DEBUG result rows: password hashes,
  stored headers), unless SQLALCHEMY_ECHO asks for them.
- The stripe SDK prints every request's form body and every response body at DEBUG (customer e-mails,
  return URLs carrying pay tokens): it is held at INFO (method, URL, status) even when the root logger is
  at DEBUG.
- What else logs at DEBUG was checked: urllib3 prints method, URL and status (no headers; no credential
  travels in a URL here); razorpay's SDK does not log; our PayPal client scrubs its lines (client id and
  secret, webhook id, the OAuth token); werkzeug prints request lines, never headers or cookies.
"""
from __future__ import annotations

import logging

from flask import Flask

# Library loggers that print request or response bodies below this level.
CAPPED = {"stripe": logging.INFO}


def init_app(app: Flask) -> None:
    """Before the database is bound: an app given its own engine options still hides parameters."""
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    options.setdefault("hide_parameters", True)
    logging.getLogger("portal").setLevel(app.config.get("LOG_LEVEL", "INFO"))
    for name, floor in CAPPED.items():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < floor:
            logger.setLevel(floor)
