"""How many workers a container's CPU limit pays for, from its cgroup files' text.

A pod limited to 2.5 CPUs gets three workers: the kernel's CFS quota lets the
container run 2.5 CPUs' worth of time per period across any number of
threads, and a third worker is what turns the half CPU into throughput rather
than leaving it unused. Pure: the caller reads the files (`workers`), these
functions only parse them, so each format's corner is tested without a cgroup.

* cgroup v2: `cpu.max` holds `"<quota> <period>"` or `"max <period>"` (no limit).
* cgroup v1: `cpu.cfs_quota_us` (-1: no limit) and `cpu.cfs_period_us`.
"""

from __future__ import annotations

import math


class CgroupFormatError(ValueError):
    """A cgroup file whose text is not what the kernel writes."""


def limit_from_cpu_max(text: str) -> float | None:
    """CPUs allowed by a cgroup v2 `cpu.max`, or None when it says `max` (no limit)."""
    parts = text.split()
    if len(parts) != 2:
        raise CgroupFormatError(f"cpu.max: expected '<quota> <period>', got {text.strip()!r}")
    quota, period = parts
    if quota == "max":
        return None
    return _ratio(quota, period, "cpu.max")


def limit_from_cfs(quota_text: str, period_text: str) -> float | None:
    """CPUs allowed by cgroup v1's `cpu.cfs_quota_us` and `cpu.cfs_period_us`; -1 is no limit."""
    quota = quota_text.strip()
    if quota == "-1":
        return None
    return _ratio(quota, period_text.strip(), "cpu.cfs_quota_us")


def _ratio(quota: str, period: str, name: str) -> float:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        raise CgroupFormatError(f"{name}: not integers: {quota!r} {period!r}") from None
    if quota_us <= 0 or period_us <= 0:
        raise CgroupFormatError(
            f"{name}: quota and period must be positive: {quota_us} {period_us}"
        )
    return quota_us / period_us


def workers_for(limit: float | None, available_cpus: int) -> int:
    """Workers for a CPU limit: rounded up, at least one; no limit → the CPUs this process may use."""
    if limit is None:
        return max(1, available_cpus)
    return max(1, math.ceil(limit - 1e-9))
