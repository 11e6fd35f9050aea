"""One click at a time per invoice: a compare-and-set on invoices.link_lock_until, which works across
processes and machines on SQLite and PostgreSQL alike."""
from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, update

from ..extensions import db
from ..models import Invoice, utcnow
from .wiring import seconds


def acquire(invoice_id: int, deadline: float) -> bool:
    """Hold the invoice for one click; False when another click still held it at `deadline`."""
    hold = timedelta(seconds=seconds("PAYMENT_CLICK_DEADLINE_SECONDS") + 1)
    while True:
        now = utcnow()
        taken = db.session.execute(
            update(Invoice)
            .where(Invoice.id == invoice_id,
                   or_(Invoice.link_lock_until.is_(None), Invoice.link_lock_until < now))
            .values(link_lock_until=now + hold)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if taken == 1:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def release(invoice_id: int) -> None:
    db.session.rollback()
    db.session.execute(update(Invoice).where(Invoice.id == invoice_id).values(link_lock_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()


@contextmanager
def objects_kept_across_commits():
    """While we hold the invoice, the rows we write are ours: skip reloading them after every commit."""
    session = db.session()
    previous, session.expire_on_commit = session.expire_on_commit, False
    try:
        yield
    finally:
        session.expire_on_commit = previous
