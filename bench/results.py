"""What a benchmark found, in a shape bench/report.py turns into BENCHMARKS.md.

Each script measures its figures over several runs (3 by default) and calls `save(script, setup, figures)`;
the file lands in bench/results/<script>.json (not committed: BENCHMARKS.md is the record). A figure keeps
every run's value, so the report can show the median and the spread, and the baseline measured in the same
runs, so the reader sees what the figure is compared with.

    save("api_overhead", "gunicorn 4 workers, PostgreSQL, Redis, sandbox at 0 ms", [
        Figure("click_overhead_p50", "link creation over the API, overhead above the bare SDK call, p50",
               goal="≤ 10 ms", unit="ms", runs=[9.1, 8.7, 9.4], met=True,
               baseline="bare SDK call to the same sandbox", baseline_runs=[4.2, 4.1, 4.3]),
    ])
"""
from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    key: str                    # stable id, unique across all scripts, e.g. "click_overhead_p50"
    label: str                  # what is measured, in the words of the table
    goal: str                   # "≤ 10 ms", "≥ 300/s", "0 lost"
    unit: str                   # "ms", "/s", "%", "s", "" (a count)
    runs: list[float]           # one value per run
    met: bool                   # judged by the script against the goal, on the median of runs
    baseline: str = ""          # what the figure is compared with ("bare SDK call", "fallback alone", ...)
    baseline_runs: list[float] = field(default_factory=list)
    note: str = ""              # why a goal is missed, with the profile that shows where the time goes

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def spread(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


def save(script: str, setup: str, figures: list[Figure]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{script}.json"
    path.write_text(json.dumps({"script": script, "setup": setup,
                                "figures": [asdict(f) for f in figures]}, indent=2, ensure_ascii=False))
    return path


def load_all(folder: Path = RESULTS) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
