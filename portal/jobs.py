"""Background work that must not hold up a request and must survive a restart.

Jobs are rows in the `jobs` table, written in the same transaction as the change that needs them (a
webhook that marks an invoice paid also queues "cancel its other links"), so neither is lost without the
other. Each web process runs one worker thread (JOBS_IN_PROCESS) that claims queued jobs with a
compare-and-set, so several gunicorn workers never run the same job twice; a job that fails is retried with
backoff, and one left "running" by a process that died is picked up again after JOB_STALE_SECONDS. The
database is the queue on SQLite and PostgreSQL alike, with or without Redis.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import or_, update

from .extensions import db
from .models import Job, utcnow

log = logging.getLogger("portal.jobs")
HANDLERS: dict[str, callable] = {}
MAX_ATTEMPTS = 8
JOB_STALE_SECONDS = 300
_wake = threading.Event()
_started: set[tuple[int, int]] = set()
_started_lock = threading.Lock()


def handler(kind: str):
    """Register the function that runs jobs of this kind: `fn(**payload)` inside an app context."""
    def register(fn):
        HANDLERS[kind] = fn
        return fn
    return register


def enqueue(kind: str, **payload) -> Job:
    """Queue a job in the caller's transaction; it runs after the caller commits."""
    job = Job(kind=kind, payload=json.dumps(payload, sort_keys=True), status="queued", attempts=0,
              run_after=utcnow())
    db.session.add(job)
    _wake.set()
    return job


def run_pending(limit: int = 100) -> int:
    """Run due jobs now, in this app context; returns how many ran. Tests call this instead of a thread."""
    ran = 0
    while ran < limit:
        job = _claim_next()
        if job is None:
            return ran
        _run(job)
        ran += 1
    return ran


def _claim_next() -> Job | None:
    now = utcnow()
    stale = now - timedelta(seconds=JOB_STALE_SECONDS)
    candidates = db.session.scalars(
        db.select(Job.id).where(
            or_(Job.status == "queued", (Job.status == "running") & (Job.updated_at < stale)),
            Job.run_after <= now,
        ).order_by(Job.id).limit(5)
    ).all()
    for job_id in candidates:
        claimed = db.session.execute(
            update(Job).where(Job.id == job_id,
                              or_(Job.status == "queued", (Job.status == "running") & (Job.updated_at < stale)))
            .values(status="running", attempts=Job.attempts + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if claimed:
            return db.session.get(Job, job_id, populate_existing=True)
    return None


def _run(job: Job) -> None:
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        fn(**json.loads(job.payload))
    except Exception as exc:  # a job's failure is recorded and retried, never lost
        db.session.rollback()
        job = db.session.get(Job, job.id, populate_existing=True)
        job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if job.attempts >= MAX_ATTEMPTS:
            job.status = "failed"
            log.error("job %s %s failed for good: %s", job.id, job.kind, job.last_error)
        else:
            job.status = "queued"
            job.run_after = utcnow() + timedelta(seconds=min(600, 2 ** job.attempts))
            log.warning("job %s %s failed (attempt %d), retrying: %s", job.id, job.kind, job.attempts,
                        job.last_error)
        db.session.commit()
        return
    job.status = "done"
    db.session.commit()


def start_worker(app: Flask, interval: float = 2.0) -> None:
    """One worker thread per process and app (idempotent), woken early when a job is queued here."""
    key = (os.getpid(), id(app))
    with _started_lock:
        if key in _started:
            return
        _started.add(key)

    def loop():
        while True:
            _wake.wait(interval)
            _wake.clear()
            try:
                with app.app_context():
                    run_pending()
                    queue_periodic(app)
            except Exception:
                log.exception("job worker loop failed; continuing")
            finally:
                with app.app_context():
                    db.session.remove()

    threading.Thread(target=loop, name="hisabpro-jobs", daemon=True).start()


# Work the worker queues on a timer: (job kind, config key of its interval in seconds; 0 switches it off).
PERIODIC = (("reconcile", "RECONCILE_INTERVAL_SECONDS"),
            ("prune_webhook_deliveries", "WEBHOOK_PRUNE_INTERVAL_SECONDS"),
            ("statistics_rollup", "STATISTICS_ROLLUP_INTERVAL_SECONDS"),
            ("send_reminders", "REMINDER_INTERVAL_SECONDS"))
_last_queued: dict[str, datetime] = {}


def queue_periodic(app: Flask) -> None:
    """Queue each periodic job whose interval has passed, unless one of its kind is already waiting."""
    now = utcnow()
    for kind, interval_key in PERIODIC:
        interval = app.config.get(interval_key) or 0
        last = _last_queued.get(kind)
        if not interval or (last is not None and (now - last).total_seconds() < interval):
            continue
        _last_queued[kind] = now
        pending = db.session.scalar(db.select(db.func.count(Job.id)).where(
            Job.kind == kind, Job.status.in_(("queued", "running"))))
        if not pending:
            enqueue(kind)
            db.session.commit()


def init_app(app: Flask) -> None:
    """Start the worker with the first request a process serves: not in CLI commands (which may run
    before the jobs table exists), and after gunicorn forks (threads do not survive a fork)."""
    if not app.config.get("JOBS_IN_PROCESS"):
        return

    @app.before_request
    def ensure_worker():
        if (os.getpid(), id(app)) not in _started:
            start_worker(app)


def queue_depth() -> int:
    return db.session.scalar(db.select(db.func.count(Job.id)).where(Job.status.in_(("queued", "running"))))

