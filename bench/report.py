"""BENCHMARKS.md from what the benchmarks saved in bench/results/ (bench/results.py), run by `make bench` last.

    .venv/bin/python bench/report.py [--results bench/results] [--out BENCHMARKS.md] [--preliminary]

One table in the order of issue 11's goals, then every other figure; a goal missed is said plainly, with its
script's note on why; a figure that no result file holds (its script failed or was not run) is listed as
not measured, never left out.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import RESULTS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# The goals' table in the issue's order: (script, figure key, the issue's words and goal for a row that no
# result holds). A key is a regular expression matched whole, so one row can take a figure per gateway.
GOALS = [
    ("api_overhead", "click_overhead_p50_0ms", "click overhead above the bare SDK call, p50, 0 ms latency", "≤ 10 ms"),
    ("api_overhead", "click_overhead_p99_0ms", "click overhead above the bare SDK call, p99, 0 ms latency", "≤ 30 ms"),
    ("api_overhead", "click_overhead_p50_100ms", "click overhead above the bare SDK call, p50, 100 ms latency",
     "≤ 10 ms"),
    ("api_overhead", "click_overhead_p99_100ms", "click overhead above the bare SDK call, p99, 100 ms latency",
     "≤ 30 ms"),
    ("api_overhead", "auth_floor", "authenticated request floor above an unauthenticated one", "≤ 3 ms"),
    ("api_overhead", "reuse_server_time", "second click, link reused, server time", "≤ 5 ms"),
    ("api_overhead", "failover_refusing", "first click with the primary refusing connections", "≤ fallback + 50 ms"),
    ("api_overhead", "failover_refusing_naive", "the naive 1+2+4 s retry design, computed", ""),
    ("api_overhead", "failover_hanging", "first click with the primary hanging, GATEWAY_TIMEOUT_SECONDS=2",
     "≤ 2.1 s"),
    ("random_failures", "random_failures_success", "every gateway failing 30 % of calls: clicks that succeed",
     "≥ 99.9 %"),
    ("random_failures", "random_failures_duplicates", "every gateway failing 30 % of calls: duplicate live links",
     "0"),
    ("webhook_throughput", r"webhook_(?!bad_signature|rejected)\w+_per_s", "verified webhooks, gunicorn 2 workers",
     "≥ 300/s"),
    ("webhook_throughput", r"webhook_(\w+_)?ack_p99", "verified webhook ack, p99", "≤ 100 ms"),
    ("webhook_throughput", "webhook_(bad_signature|rejected)_per_s", "webhooks with a bad signature", "≥ 1,000/s"),
    ("invoice_list", "list_first_page", "100,000 invoices: HTML list", "p50 ≤ 50 ms"),
    ("invoice_list", "list_status_filter", "100,000 invoices: status filter", "p50 ≤ 50 ms"),
    ("invoice_list", "list_search", "100,000 invoices: search", "p50 ≤ 50 ms"),
    ("invoice_list", "list_page_2000", "100,000 invoices: page 2,000", "p50 ≤ 50 ms"),
    ("invoice_list", "list_sort_customer", "100,000 invoices: sorted by customer", "p50 ≤ 50 ms"),
    ("invoice_list", "api_invoice_list", "API invoice list at 100,000", "p50 ≤ 30 ms"),
    ("api_overhead", "link_generation_p99_100ms", "link generation with 100 ms gateway latency, p99", "< 500 ms"),
]
# Scripts whose figures follow the goals' table (drills and the older goals), each expected to have run, with
# what their row says when they saved nothing.
OTHER_SCRIPTS = {
    "worker_kill": "a worker killed every few hundred ms during 1,000 webhook deliveries: no acknowledged event "
                   "lost, every invoice matches the gateway",
    "two_instances": "two portal instances sharing PostgreSQL and Redis: one link per invoice, one payment per "
                     "event, breaker, cache and settings shared",
    "home_page": "Home, full page and the partial it polls",
    "statistics_page": "Statistics page at 1,000,000 gateway attempts (p50 < 300 ms)",
}
NO_GOAL = ("", "no goal set")  # a reference figure or one kept to see change: nothing to meet
COMMANDS = {"worker_kill": "bench/drills.py worker-kill", "two_instances": "bench/drills.py two-instances"}


def command(script: str) -> str:
    return COMMANDS.get(script, f"bench/{script}.py")


def number(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.2f} %"
    if unit in ("", "count"):
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:.2f} s"
    text = f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".replace(" /s", "/s")


def cells(figure: dict) -> list[str]:
    runs, unit = figure["runs"], figure["unit"]
    median = statistics.median(runs)
    spread = f"{number(min(runs), unit)} – {number(max(runs), unit)}" if len(runs) > 1 else "one run"
    baseline = "—"
    if figure.get("baseline"):
        baseline = figure["baseline"]
        if figure.get("baseline_runs"):
            baseline += f": {number(statistics.median(figure['baseline_runs']), unit)}"
    judged = figure["goal"] not in NO_GOAL
    return [figure["label"], figure["goal"] if judged else "—", number(median, unit), spread, baseline,
            ("yes" if figure["met"] else "**no**") if judged else "—"]


def row(values: list[str]) -> str:
    return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"


def machine() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"MemTotal:\s*(\d+) kB", meminfo)
    return [
        f"- CPU: {model.group(1).strip() if model else platform.processor() or 'unknown'}, "
        f"{os.cpu_count()} cores" + (f"; {int(mem.group(1)) / 1024 / 1024:.0f} GiB RAM" if mem else ""),
        f"- {platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"- {server_version(['psql', '-h', '127.0.0.1', '-U', 'postgres', '-Atc', 'SHOW server_version'], 'PostgreSQL')}; "
        f"{server_version(['redis-cli', '-h', '127.0.0.1', 'INFO', 'server'], 'Redis')}",
    ]


def server_version(command: list[str], name: str) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return f"{name}: unknown"
    found = re.search(r"redis_version:(\S+)", out) if name == "Redis" else re.search(r"(\d+\.\d+)", out)
    return f"{name} {found.group(1)}" if found else f"{name}: unknown"


PRELIMINARY = ("> **Preliminary.** These figures come from short runs (small sizes, fewer runs) on a machine shared "
               "with other work; they show that every script saves its figures, not how fast HisabPro is. "
               "Regenerate on a quiet machine with `make bench`.")


def figures_of(results: list[dict], script: str) -> list[dict]:
    return [f for r in results if r["script"] == script for f in r["figures"]]


def build(results: list[dict], now: datetime, machine_lines: list[str], preliminary: bool = False) -> str:
    setups = {r["script"]: r["setup"] for r in results}
    header = ["figure", "goal", "median", "spread of runs", "baseline (same run)", "met"]
    lines = [
        "# How fast HisabPro is, measured",
        "",
        *([PRELIMINARY, ""] if preliminary else []),
        f"Generated by `make bench` (bench/report.py) on {now:%Y-%m-%d %H:%M} UTC. Each figure is the median of "
        "its runs (3 unless a script says otherwise), with the spread of the runs and the baseline measured in "
        "the same runs. Regenerate with `make bench`; numbers from another machine will differ, the ratios to "
        "their baselines less so.",
        "",
        "## The machine",
        "",
        *machine_lines,
        "- gunicorn workers, database and sizes: as each script set them up, under "
        "[How each was measured](#how-each-was-measured)",
        "",
        "## The goals",
        "",
        row(header),
        row(["---"] * len(header)),
    ]
    missed, missing = [], {}  # missing: script -> the rows it did not fill
    placed = set()
    for script, pattern, words, goal in GOALS:
        matched = [f for f in figures_of(results, script) if re.fullmatch(pattern, f["key"])]
        if not matched:
            missing.setdefault(script, []).append(words)
            why = (f"`{command(script)}` ran but saved no figure `{pattern}`" if script in setups
                   else f"`{command(script)}` saved no result")
            lines.append(row([words, goal or "—", "not measured", "", why, "**no**" if goal else "—"]))
        for figure in matched:
            placed.add((script, figure["key"]))
            lines.append(row(cells(figure)))
            if not figure["met"]:
                missed.append(figure)
    others = [f for r in results for f in r["figures"] if (r["script"], f["key"]) not in placed]
    lines += ["", "## Drills and other figures", "", row(header), row(["---"] * len(header))]
    for figure in others:
        lines.append(row(cells(figure)))
        if not figure["met"]:
            missed.append(figure)
    for script, words in OTHER_SCRIPTS.items():
        if script not in setups:
            missing.setdefault(script, []).append(words)
            lines.append(row([words, "", "not measured", "", f"`{command(script)}` saved no result", "**no**"]))
    lines += ["", "## Not met, and why", ""]
    if not missed and not missing:
        lines.append("Every goal above is met.")
    said = set()
    for figure in missed:
        note = figure.get("note") or "no explanation was recorded by its script."
        lines += [f"**{figure['label']}** (goal {figure['goal']}, measured "
                  f"{number(statistics.median(figure['runs']), figure['unit'])}): "
                  f"{'the same as above.' if note in said else note}", ""]
        said.add(note)
    if missing:
        lines += ["### Not measured", ""]
    for script, rows in missing.items():
        what = "; ".join(rows) if rows else "its figures"
        why = ("ran but did not save these (its figure keys differ from bench/report.py's GOALS)"
               if script in setups else "saved no result (it failed or was not run; `make bench` names it)")
        lines += [f"- `{command(script)}` {why}: {what}."]
    if missing:
        lines.append("")
    lines += ["## How each was measured", ""]
    lines += [f"- `{command(script)}`: {setup}" for script, setup in sorted(setups.items())]
    return "\n".join(lines).rstrip() + "\n"


README_START = "<!-- The table below is written by bench/report.py from the same results as BENCHMARKS.md. -->"
README_END = "<!-- End of the table written by bench/report.py. -->"


def readme_table(results: list[dict]) -> str:
    """The goals in the README's How fast section: figure, measured (median of runs), goal, met."""
    lines = [README_START, "", row(["", "measured", "goal", "met"]), row(["---"] * 4)]
    for script, pattern, words, goal in GOALS:
        matched = [f for f in figures_of(results, script) if re.fullmatch(pattern, f["key"])]
        if not matched:
            lines.append(row([words, "not measured", goal or "—", "**no**" if goal else "—"]))
        for figure in matched:
            label, goal_cell, median, _, _, met = cells(figure)
            lines.append(row([label, median, goal_cell, met]))
    return "\n".join(lines + ["", README_END])


def rewrite_readme(readme: Path, results: list[dict]) -> None:
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"{readme} has no table markers for bench/report.py")
    readme.write_text(text[:start] + readme_table(results) + text[end + len(README_END):])


def main() -> None:
    from results import load_all

    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--preliminary", action="store_true", help="say in the header that the runs were short "
                        "or the machine busy (make bench never passes it)")
    args = parser.parse_args()
    results = load_all(args.results)
    args.out.write_text(build(results, datetime.now(timezone.utc), machine(), args.preliminary))
    rewrite_readme(args.readme, results)
    print(f"wrote {args.out} and the table in {args.readme} from {len(results)} result files")


if __name__ == "__main__":
    main()
