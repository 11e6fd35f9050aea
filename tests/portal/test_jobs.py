"""Background jobs live in the database: they survive a restart, retry with backoff, and run once."""
import json
from datetime import timedelta

from portal import jobs
from portal.extensions import db
from portal.models import Job, utcnow

RUNS = []


@jobs.handler("test_record")
def record(value):
    RUNS.append(value)


@jobs.handler("test_flaky")
def flaky(value):
    RUNS.append(value)
    if len([r for r in RUNS if r == value]) < 2:
        raise RuntimeError("gateway still down")


def test_a_queued_job_runs_after_a_restart(app, tmp_path, database_url):
    RUNS.clear()
    jobs.enqueue("test_record", value="kept")
    db.session.commit()  # the web process dies here, before any worker ran it
    from portal import create_app

    restarted = create_app({"INSTANCE_PATH": str(tmp_path / "again"), "SQLALCHEMY_DATABASE_URI": database_url,
                            "SECRET_KEY": "x"})
    with restarted.app_context():
        assert jobs.run_pending() == 1
        assert jobs.run_pending() == 0  # once
    assert RUNS == ["kept"]


def test_a_failing_job_is_retried_later_and_then_succeeds(app):
    RUNS.clear()
    jobs.enqueue("test_flaky", value="v")
    db.session.commit()
    assert jobs.run_pending() == 1
    job = db.session.scalars(db.select(Job)).one()
    assert job.status == "queued" and "gateway still down" in job.last_error and job.run_after > utcnow()
    job.run_after = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert jobs.run_pending() == 1
    assert db.session.scalars(db.select(Job)).one().status == "done" and RUNS == ["v", "v"]


def test_a_job_left_running_by_a_dead_process_is_picked_up_again(app):
    RUNS.clear()
    db.session.add(Job(kind="test_record", payload=json.dumps({"value": "orphan"}), status="running",
                       attempts=1, updated_at=utcnow() - timedelta(seconds=jobs.JOB_STALE_SECONDS + 5)))
    db.session.commit()
    assert jobs.run_pending() == 1 and RUNS == ["orphan"]


def test_the_worker_queues_periodic_reconciliation_and_webhook_pruning(app):
    app.config.update(RECONCILE_INTERVAL_SECONDS=60, WEBHOOK_PRUNE_INTERVAL_SECONDS=3600)
    jobs._last_queued.clear()
    jobs.queue_periodic(app)
    jobs.queue_periodic(app)  # not again within the interval
    assert sorted(j.kind for j in db.session.scalars(db.select(Job))) == ["prune_webhook_deliveries", "reconcile",
                                                                          "send_reminders", "statistics_rollup"]


def test_a_periodic_job_switched_off_is_not_queued(app):
    app.config.update(RECONCILE_INTERVAL_SECONDS=0, WEBHOOK_PRUNE_INTERVAL_SECONDS=0, STATISTICS_ROLLUP_INTERVAL_SECONDS=0,
                      REMINDER_INTERVAL_SECONDS=0)
    jobs._last_queued.clear()
    jobs.queue_periodic(app)
    assert db.session.scalars(db.select(Job)).all() == []


def test_the_periodic_statistics_rollup_runs_as_a_job(app):
    from portal.models import StatisticsRollup
    from portal.merchant import merchant_settings

    app.config.update(RECONCILE_INTERVAL_SECONDS=0, WEBHOOK_PRUNE_INTERVAL_SECONDS=0, REMINDER_INTERVAL_SECONDS=0)
    jobs._last_queued.clear()
    jobs.queue_periodic(app)
    assert jobs.run_pending() == 1
    assert [j.status for j in db.session.scalars(db.select(Job))] == ["done"]
    state = db.session.get(StatisticsRollup, 1)
    assert state is not None and state.time_zone == merchant_settings().time_zone


def test_the_worker_starts_with_the_first_request_not_with_cli_commands(tmp_path, database_url, migrated,
                                                                        monkeypatch):
    from portal import create_app

    monkeypatch.setenv("JOBS_IN_PROCESS", "1")
    started = []
    monkeypatch.setattr(jobs, "start_worker", lambda app, interval=2.0: started.append(app))
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x"})
    assert started == []  # `flask db upgrade` and friends build the app too, before tables exist
    app.test_client().get("/login")
    assert started == [app]
