"""One click at a time per invoice: a compare-and-set on invoices.link_lock_until, which works across
processes and machines on SQLite and PostgreSQL alike.

The lock is taken in the transaction that then writes the click's rows: nobody else can take it before that
transaction commits (PostgreSQL holds the invoice row, SQLite the database), so the lock costs no commit of
its own. It is let go in the transaction that records the outcome, or on its own after an error.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import Invoice, utcnow
from .wiring import seconds

# What the click decides from, read back by the statement that takes the lock (no second read of the invoice).
FRESH_COLUMNS = ("status", "currency", "total_minor", "amount_paid_minor", "accept_partial")


class InvoiceLock:
    def __init__(self, invoice: Invoice):
        self.invoice, self.held = invoice, False
        self.waited = False  # another click held the invoice first: what it made may be the answer

    def take(self, deadline: float) -> bool:
        """Hold the invoice for this click, and refresh what the click decides from as of now; False when
        another click still held it at `deadline`. The caller's transaction stays open."""
        hold = timedelta(seconds=seconds("PAYMENT_CLICK_DEADLINE_SECONDS") + 1)
        columns = [getattr(Invoice, name) for name in FRESH_COLUMNS]
        while True:
            now = utcnow()
            fresh = db.session.execute(
                update(Invoice)
                .where(Invoice.id == self.invoice.id,
                       or_(Invoice.link_lock_until.is_(None), Invoice.link_lock_until < now))
                .values(link_lock_until=now + hold)
                .returning(*columns)
                .execution_options(synchronize_session=False)
            ).first()
            if fresh is not None:
                for name, value in zip(FRESH_COLUMNS, fresh):
                    set_committed_value(self.invoice, name, value)
                self.held = True
                return True
            db.session.rollback()  # end our transaction so the holder's commit becomes visible
            self.waited = True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def let_go(self) -> None:
        """Release in the caller's transaction, which commits it with the click's outcome."""
        db.session.execute(update(Invoice).where(Invoice.id == self.invoice.id).values(link_lock_until=None)
                           .execution_options(synchronize_session=False))
        self.held = False

    def release_if_held(self) -> None:
        """After an error: whatever the click left unwritten is dropped, and the invoice is free again."""
        if not self.held:
            return
        db.session.rollback()
        self.let_go()
        db.session.commit()


@contextmanager
def objects_kept_across_commits():
    """The rows a click writes and hands back are ours: skip reloading them after every commit."""
    session = db.session()
    previous, session.expire_on_commit = session.expire_on_commit, False
    try:
        yield
    finally:
        session.expire_on_commit = previous
