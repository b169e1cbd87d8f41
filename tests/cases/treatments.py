"""An independent reference of the example engine's assignment, for checking routes.

The sample engine's exp_1 splits units 85/15 between `control` and
`treatment-1`, whose treatment configs name routes of the same names. The
reference recomputes Turing's hardcoded runner by hand: FNV-1a (32 bit) of the
unit's text, modulo 10000, walked over the float32 traffic shares. It shares no
code with the router or the plugins.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from devenv.gopeers import fnv1a_32

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_OPTIONS: dict[str, Any] = json.loads(
    (ROOT / "examples/plugins/hardcoded/sample_engine_options.json").read_text()
)


def runner_config() -> dict[str, Any]:
    """The sample engine's exp_1 as a runner config, split on payload client.id."""
    experiment = dict(SAMPLE_OPTIONS["experiments"][0])
    experiment["segmentation_configuration"] = {
        "name": "client_id",
        "source": "payload",
        "value": "client.id",
    }
    return {"experiments": [experiment]}


def _float32(x: float) -> float:
    value: float = struct.unpack("f", struct.pack("f", x))[0]
    return value


def reference_variant(client_id: int) -> str:
    """exp_1's variant (and route) for the unit `client_id`."""
    bucket = fnv1a_32(str(client_id).encode()) % 10000
    total = 0
    for name, traffic in (("control", 0.85), ("treatment-1", 0.15)):
        total += int(_float32(_float32(traffic) * 10000))
        if bucket <= total:
            return name
    raise AssertionError("the shares sum to 1")
