"""BENCHMARKS.md from what the benchmarks saved in bench/results/ (bench/results.py), run by `make bench` last.

    .venv/bin/python bench/report.py [--results bench/results] [--out BENCHMARKS.md]

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

# (script, figure key): the goals' table, in the issue's order. The scripts name their figures these keys.
GOALS = [
    ("api_overhead", "click_overhead_p50_0ms"),
    ("api_overhead", "click_overhead_p99_0ms"),
    ("api_overhead", "click_overhead_p50_100ms"),
    ("api_overhead", "click_overhead_p99_100ms"),
    ("api_overhead", "auth_floor"),
    ("api_overhead", "reuse_server_time"),
    ("api_overhead", "failover_refusing"),
    ("api_overhead", "failover_refusing_naive"),
    ("api_overhead", "failover_hanging"),
    ("random_failures", "random_failures_success"),
    ("random_failures", "random_failures_duplicates"),
    ("webhook_throughput", "webhooks_verified_rate"),
    ("webhook_throughput", "webhooks_ack_p99"),
    ("webhook_throughput", "webhooks_rejected_rate"),
    ("invoice_list", "list_first_page"),
    ("invoice_list", "list_status_filter"),
    ("invoice_list", "list_search"),
    ("invoice_list", "list_page_2000"),
    ("invoice_list", "list_sort_customer"),
    ("invoice_list", "api_invoice_list"),
    ("api_overhead", "link_generation_p99_100ms"),
]
# Scripts whose figures follow the goals' table (drills and the older goals), each expected to have run.
OTHER_SCRIPTS = ["worker_kill", "two_instances", "home_page", "statistics_page"]
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


def build(results: list[dict], now: datetime, machine_lines: list[str]) -> str:
    by_key = {(r["script"], f["key"]): f for r in results for f in r["figures"]}
    setups = {r["script"]: r["setup"] for r in results}
    header = ["figure", "goal", "median", "spread of runs", "baseline (same run)", "met"]
    lines = [
        "# How fast HisabPro is, measured",
        "",
        f"Generated by `make bench` (bench/report.py) on {now:%Y-%m-%d %H:%M} UTC. Each figure is the median of "
        "its runs (3 unless a script says otherwise), with the spread of the runs and the baseline measured in "
        "the same runs. Regenerate with `make bench`; numbers from another machine will differ, the ratios to "
        "their baselines less so.",
        "",
        "## The machine",
        "",
        *machine_lines,
        "",
        "## The goals",
        "",
        row(header),
        row(["---"] * len(header)),
    ]
    missed, missing = [], []
    for script, key in GOALS:
        figure = by_key.get((script, key))
        if figure is None:
            missing.append((script, key))
            lines.append(row([key, "", "not measured", "", f"{command(script)} saved no `{key}`", "**no**"]))
            continue
        lines.append(row(cells(figure)))
        if not figure["met"]:
            missed.append(figure)
    goal_keys = set(GOALS)
    others = [(r["script"], f) for r in results for f in r["figures"] if (r["script"], f["key"]) not in goal_keys]
    lines += ["", "## Drills and other figures", "", row(header), row(["---"] * len(header))]
    for script, figure in others:
        lines.append(row(cells(figure)))
        if not figure["met"]:
            missed.append(figure)
    for script in OTHER_SCRIPTS:
        if script not in setups:
            missing.append((script, None))
            lines.append(row([command(script), "", "not measured", "", "the script saved no results", "**no**"]))
    lines += ["", "## Not met, and why", ""]
    if not missed and not missing:
        lines.append("Every goal above is met.")
    for figure in missed:
        lines += [f"**{figure['label']}** (goal {figure['goal']}, measured "
                  f"{number(statistics.median(figure['runs']), figure['unit'])}): "
                  f"{figure.get('note') or 'no explanation was recorded by its script.'}", ""]
    for script, key in missing:
        what = f"`{key}`" if key else "its figures"
        lines += [f"**{command(script)}: {what} not measured**: the script failed or was not run; "
                  "`make bench` says which.", ""]
    lines += ["## How each was measured", ""]
    lines += [f"- `{command(script)}`: {setup}" for script, setup in sorted(setups.items())]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    from results import load_all

    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args()
    results = load_all(args.results)
    args.out.write_text(build(results, datetime.now(timezone.utc), machine()))
    print(f"wrote {args.out} from {len(results)} result files")


if __name__ == "__main__":
    main()
