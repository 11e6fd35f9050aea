"""The two-instance drill, small (bench/drills.py two-instances runs it with 300 invoices): two gunicorn
masters on two ports share PostgreSQL and Redis, as two machines behind a load balancer would. Clicks,
webhooks (each event also sent to the other instance) and admin changes hit both; what one instance decides,
the other must honour. Real gunicorn, PostgreSQL, Redis and the sandbox; invariants only, no times."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from drills import two_instances  # noqa: E402


@pytest.fixture(scope="module")
def drill():
    return two_instances(invoices=30)


def test_both_instances_answer_every_click(drill):
    assert min(drill.clicks) > 0, "each instance must take clicks"
    assert drill.click_errors == 0


def test_simultaneous_clicks_through_both_instances_make_one_link_per_invoice(drill):
    assert drill.invoices_with_two_links == []
    clicked = set(drill.links_returned)
    assert set(drill.created_in_db) == clicked  # every clicked invoice has its one link at the gateway ...
    assert set(drill.created_at_gateway) == clicked  # ... as the sandbox sees it too
    assert all(n == 1 for n in drill.created_at_gateway.values())


def test_a_link_made_through_one_instance_is_reused_through_the_other(drill):
    assert drill.reuse_checks == drill.invoices
    assert drill.reuse_honoured == drill.reuse_checks


def test_events_delivered_to_both_instances_pay_each_invoice_once_and_none_is_lost(drill):
    assert len(drill.paid_at_gateway) == drill.invoices
    assert min(drill.deliveries) > 0, "the sandbox must deliver to both instances"
    assert drill.copies >= drill.events, "each event must also reach the other instance"
    assert drill.unanswered == 0
    assert drill.lost == set(), "an acknowledged event was lost"
    assert drill.duplicate_payments == 0
    assert drill.not_paid_once == []


def test_once_paid_through_either_instance_no_instance_hands_the_link_out_again(drill):
    assert drill.refused_after_paid == 2 * len(drill.paid_at_gateway)


def test_admin_changes_through_one_instance_steer_the_next_clicks_through_the_other(drill):
    assert len(drill.settings) == 6
    assert [(c.change, c.gateways) for c in drill.settings if not c.obeyed] == []
    assert all(c.views_agree for c in drill.settings), "GET /api/v1/gateways differs between the instances"


def test_a_breaker_opened_through_one_instance_is_open_and_obeyed_on_the_other(drill):
    assert drill.breaker_views[0]["razorpay"] == "open"
    assert drill.breaker_views[0] == drill.breaker_views[1]
    assert drill.breaker_obeyed, "a click through the other instance still went to the open gateway"
    assert all(view["razorpay"] == "closed" for view in drill.breaker_reset_views), \
        "an admin's reset through one instance must close the breaker for both"


def test_background_jobs_of_both_instances_finish(drill):
    assert drill.jobs_waiting == 0
