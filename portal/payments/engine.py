"""The payment engine's front door: what blueprints, the CLI and jobs call. Each part has its own module:

- click.py    the click: reuse, lock, routing plan, fallback (generate_link)
- calls.py    one gateway call: attempt log, breaker feed, retries with the same key
- links.py    link rows, the request built from one, reuse and its cache
- locking.py  one click at a time per invoice
- cancel.py   links left behind, cancelled in the background (the cancel_other_links job)
- clicks.py   the click trail (LinkClick rows)
- wiring.py   per-app set-up: the shared circuit breaker
- admin_settings.py  gateway settings and routing rules, cached until an admin changes them
"""
from .calls import ERROR_WORDS
from .cancel import cancel_other_links
from .click import LinkRefused, LinkResult, NoGatewayAvailable, generate_link
from .clicks import record_customer_outcome
from .links import build_request
from .wiring import breaker, init_app

__all__ = ["ERROR_WORDS", "LinkRefused", "LinkResult", "NoGatewayAvailable", "breaker", "build_request",
           "cancel_other_links", "generate_link", "init_app", "record_customer_outcome"]
