"""`make bench`: every benchmark, one after the other (`python -m tests.bench router` for one)."""

import sys

from tests.bench import handover, operator_latency, plugin_rpc, router, router_parts

BENCHMARKS = {
    "plugin_rpc": plugin_rpc.main,
    "operator_latency": operator_latency.main,
    "router_parts": router_parts.main,
    "router": router.main,
    "handover": handover.main,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(BENCHMARKS):
        BENCHMARKS[name]()
        print()
