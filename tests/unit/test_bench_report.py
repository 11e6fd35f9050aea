"""BENCHMARKS.md says each goal's figure beside its baseline, says plainly which goals are missed and why, and
lists a figure no script saved as not measured instead of dropping it (bench/report.py)."""
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import report  # noqa: E402
from results import Figure, load_all, save  # noqa: E402


def test_the_report_shows_goals_baselines_misses_and_what_was_not_measured(tmp_path, monkeypatch):
    monkeypatch.setattr("results.RESULTS", tmp_path)
    save("api_overhead", "gunicorn 4 workers, PostgreSQL, Redis", [
        Figure("click_overhead_p50_0ms", "click overhead above the bare SDK, p50", "≤ 10 ms", "ms",
               runs=[9.0, 8.0, 12.0], met=True, baseline="bare SDK call", baseline_runs=[3.0, 4.0, 5.0]),
        Figure("auth_floor", "authenticated floor above unauthenticated", "≤ 3 ms", "ms", runs=[4.5, 4.0, 5.0],
               met=False, note="token lookup and user load: two queries"),
    ])
    save("worker_kill", "2 workers, kill every 300 ms", [
        Figure("worker_kill_lost", "acknowledged events lost", "0", "", runs=[0, 0, 0], met=True)])
    text = report.build(load_all(tmp_path), datetime(2026, 12, 4, 12, tzinfo=timezone.utc), ["- CPU: test"])

    assert "on 2026-12-04 12:00 UTC" in text and "- CPU: test" in text
    assert "| click overhead above the bare SDK, p50 | ≤ 10 ms | 9.0 ms | 8.0 ms – 12.0 ms | bare SDK call: 4.0 ms | yes |" in text
    assert "| authenticated floor above unauthenticated | ≤ 3 ms | 4.5 ms |" in text
    not_met = text.split("## Not met, and why")[1]
    assert "**authenticated floor above unauthenticated** (goal ≤ 3 ms, measured 4.5 ms): token lookup" in not_met
    assert "click overhead" not in not_met.split("### Not measured")[0]
    # Nothing saved these: each is still a row, and named under "Not met".
    assert "| verified webhooks, gunicorn 2 workers | ≥ 300/s | not measured |" in text
    not_measured = not_met.split("### Not measured")[1]
    assert "- `bench/webhook_throughput.py` saved no result" in not_measured
    assert "verified webhooks, gunicorn 2 workers; verified webhook ack, p99" in not_measured
    assert "- `bench/statistics_page.py` saved no result" in not_measured
    assert ("| Statistics page at 1,000,000 gateway attempts (p50 < 300 ms) |  | not measured |  | "
            "`bench/statistics_page.py` saved no result | **no** |") in text.split("## Drills and other figures")[1]
    assert "bench/api_overhead.py` ran but did not save these" in not_measured  # its other goals' keys are absent
    assert "| acknowledged events lost | 0 | 0 |" in text.split("## Drills and other figures")[1]
    assert "- `bench/drills.py worker-kill`: 2 workers, kill every 300 ms" in text


def test_every_goal_met_is_said_once(tmp_path):
    keys = {"webhook_(?!bad_signature|rejected)\\w+_per_s": "webhook_stripe_per_s",
            "webhook_(\\w+_)?ack_p99": "webhook_ack_p99", "webhook_(bad_signature|rejected)_per_s": "webhook_rejected_per_s"}
    results = [{"script": script, "setup": "s", "figures": [
        {"key": keys.get(key, key), "label": key, "goal": "g", "unit": "ms", "runs": [1.0], "met": True,
         "baseline": "", "baseline_runs": [], "note": ""}]} for script, key, _, _ in report.GOALS]
    results += [{"script": s, "setup": "s", "figures": []} for s in report.OTHER_SCRIPTS]
    text = report.build(results, datetime(2026, 12, 4, tzinfo=timezone.utc), [])
    assert "Every goal above is met." in text and "not measured" not in text and "**no**" not in text


def test_a_preliminary_report_says_so_before_any_figure():
    text = report.build([], datetime(2026, 12, 4, tzinfo=timezone.utc), [], preliminary=True)
    assert text.index("**Preliminary.**") < text.index("## The goals")
    assert "Preliminary" not in report.build([], datetime(2026, 12, 4, tzinfo=timezone.utc), [])


def test_webhook_figures_per_gateway_each_land_in_their_goal_row():
    def figure(key):
        return {"key": key, "label": key, "goal": "g", "unit": "/s", "runs": [1.0], "met": True}
    results = [{"script": "webhook_throughput", "setup": "s", "figures": [
        figure(k) for k in ("webhook_stripe_per_s", "webhook_paypal_per_s", "webhook_stripe_ack_p50",
                            "webhook_stripe_ack_p99", "webhook_bad_signature_per_s")]}]
    goals = report.build(results, datetime(2026, 12, 4, tzinfo=timezone.utc), []).split("## Drills")[0]
    verified, ack, forged = (goals.index(f"| {k} |") for k in ("webhook_paypal_per_s", "webhook_stripe_ack_p99",
                                                               "webhook_bad_signature_per_s"))
    assert goals.index("| webhook_stripe_per_s |") < verified < ack < forged
    assert "webhook_stripe_ack_p50" not in goals  # no goal for p50: it follows the table


def test_the_readme_table_is_rewritten_between_its_markers_and_nothing_else(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## How fast\n\nWords.\n\n{report.README_START}\nold table\n{report.README_END}\n\n"
                      "## Testing\n")
    results = [{"script": "api_overhead", "setup": "s", "figures": [
        {"key": "auth_floor", "label": "auth floor", "goal": "≤ 3 ms", "unit": "ms", "runs": [2.0, 2.5, 9.0],
         "met": True, "baseline": "", "baseline_runs": [], "note": ""}]}]
    report.rewrite_readme(readme, results)
    text = readme.read_text()
    assert text.startswith("# Title\n\n## How fast\n\nWords.\n\n") and text.endswith("\n\n## Testing\n")
    assert "old table" not in text
    assert "| auth floor | 2.5 ms | ≤ 3 ms | yes |" in text
    assert "| verified webhooks, gunicorn 2 workers | not measured | ≥ 300/s | **no** |" in text
