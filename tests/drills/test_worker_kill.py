"""The worker-kill drill, small (bench/drills.py runs it with 1,000 invoices): gunicorn workers killed with
SIGKILL while webhooks arrive. Nothing the portal acknowledged may be lost, and after reconciliation every
invoice is paid exactly once, as at the gateway. Real gunicorn, PostgreSQL, Redis and the sandbox."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from drills import worker_kill  # noqa: E402


def test_killing_workers_mid_webhooks_loses_no_acknowledged_event_and_pays_each_invoice_once():
    result = worker_kill(invoices=30, every_ms=300, pay_every_ms=100)  # about ten kills
    assert result.kills >= 3, "the drill must really kill workers"
    assert len(result.acknowledged) >= result.invoices  # at least each payment's payment_link.paid got through
    assert result.acknowledged - result.recorded == set(), "an acknowledged event was lost"
    assert result.paid_once == result.invoices
    assert result.matching == result.invoices, "an invoice's amount paid differs from what the gateway took"
