"""A reference for the hardcoded engine's allocation, written apart from the plugin's code.

Turing's runner puts a unit in bucket FNV-1a-32(unit) mod 10000 and walks the
variants, largest traffic first (ties by name in our ports), adding each
share `uint32(float32(traffic) * 10000)` computed in float32, and picks the first
variant whose running total reaches the bucket. The allocation is easy to get
wrong by one at a variant's edge, so the agreement tests send units that land
exactly on, and next to, every variant's last bucket; this module finds them.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from devenv.gopeers import fnv1a_32

BUCKETS = 10_000
NO_VARIANT = "no experiment configured for the unit"


def float32(value: float) -> float:
    rounded: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return rounded


def share(traffic: float) -> int:
    # The product of two float32 values is exact in float64; rounding it once to
    # float32 is Go's float32 multiplication.
    return int(float32(float32(traffic) * BUCKETS))


def variant_for_bucket(traffic: dict[str, float], bucket: int) -> str | None:
    total = 0
    for name in sorted(sorted(traffic), key=lambda name: -traffic[name]):
        total += share(traffic[name])
        if bucket <= total:
            return name
    return None


def edge_buckets(traffic: dict[str, float]) -> list[int]:
    """0, 9999, and each variant's last bucket with its neighbours on both sides."""
    edges = {0, BUCKETS - 1}
    total = 0
    for name in sorted(sorted(traffic), key=lambda name: -traffic[name]):
        total += share(traffic[name])
        edges |= {total - 1, total, total + 1}
    return sorted(bucket for bucket in edges if 0 <= bucket < BUCKETS)


def units_in_buckets(buckets: list[int]) -> dict[int, int]:
    """For each bucket, the smallest non-negative integer whose decimal text hashes into it."""
    wanted = set(buckets)
    found: dict[int, int] = {}
    unit = 0
    while wanted:
        bucket = fnv1a_32(str(unit).encode()) % BUCKETS
        if bucket in wanted:
            found[bucket] = unit
            wanted.discard(bucket)
        unit += 1
    return found


def runner_config(traffic: dict[str, float], experiment: str = "exp_edges") -> str:
    """A hardcoded runner config (unit: the payload's client.id) with these shares."""
    variants: dict[str, Any] = {
        name: {"traffic": value, "treatment_configuration": {"variant": name}}
        for name, value in traffic.items()
    }
    return json.dumps(
        {
            "experiments": [
                {
                    "id": "101",
                    "name": experiment,
                    "variants": [{"name": name} for name in traffic],
                    "segmentation_configuration": {
                        "name": "client_id",
                        "source": "payload",
                        "value": "client.id",
                    },
                    "variants_configuration": variants,
                }
            ]
        }
    )


# The shares of Turing's runner_test.go: control 8500, treatment-1 1500.
TURING_TRAFFIC: dict[str, float] = {"control": 0.85, "treatment-1": 0.15}
# 0.5005 is 5005 buckets in float32 but 5004 in float64; the shares add up to
# 9998, so the last bucket belongs to no variant.
EDGE_TRAFFIC: dict[str, float] = {"wide": 0.5005, "mid": 0.2995, "thin": 0.1998}


def edge_cases(traffic: dict[str, float]) -> list[tuple[int, int, str | None]]:
    """(bucket, unit, expected variant or None) for every edge bucket of `traffic`."""
    buckets = edge_buckets(traffic)
    units = units_in_buckets(buckets)
    return [(bucket, units[bucket], variant_for_bucket(traffic, bucket)) for bucket in buckets]
