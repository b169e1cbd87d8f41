"""Latency statistics in one shape for every benchmark row."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    n: int
    p50_us: float
    p99_us: float
    calls_per_s: float


def summarize(name: str, samples_s: list[float], wall_s: float) -> Result:
    ordered = sorted(samples_s)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Result(
        name, len(ordered), statistics.median(ordered) * 1e6, p99 * 1e6, len(ordered) / wall_s
    )


def from_go(name: str, report: dict[str, float]) -> Result:
    return Result(name, int(report["n"]), report["p50_us"], report["p99_us"], report["calls_per_s"])


def table(rows: list[Result], baseline: Result) -> str:
    lines = [
        f"{'case':44} {'n':>7} {'p50 µs':>9} {'p99 µs':>9} {'calls/s':>10} {'p50 vs base':>12}",
    ]
    for row in rows:
        ratio = row.p50_us / baseline.p50_us if baseline.p50_us else float("nan")
        lines.append(
            f"{row.name:44} {row.n:7d} {row.p50_us:9.1f} {row.p99_us:9.1f} {row.calls_per_s:10.0f} {ratio:11.2f}x"
        )
    return "\n".join(lines)
