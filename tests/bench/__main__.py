"""`make bench`: every benchmark, one after the other (`python -m tests.bench router` for one).

`python -m tests.bench scale --routers 1000 --idle-seconds 600` passes the options after
the name to that benchmark (see `tests/bench/scale.py`).
"""

import sys

from tests.bench import (
    chaos,
    handover,
    memory_per_router,
    operator_latency,
    operator_startup,
    plugin_rpc,
    realnode,
    router,
    router_parts,
    router_workers,
    scale,
    store,
)

BENCHMARKS = {
    "plugin_rpc": plugin_rpc.main,
    "operator_latency": operator_latency.main,
    "operator_startup": operator_startup.main,
    "router_parts": router_parts.main,
    "store": store.main,
    "router": router.main,
    "router_workers": router_workers.main,
    "handover": handover.main,
    "chaos": chaos.main,
    "memory_per_router": lambda: memory_per_router.main([]),
    "scale": lambda: scale.main([]),  # its defaults; options only when named first
    "realnode": realnode.main,  # root: Routers on a real node (docs/real-node.md)
}

if __name__ == "__main__":
    names = sys.argv[1:2] or list(BENCHMARKS)
    if names[0] == "scale":
        scale.main(sys.argv[2:])
    elif names[0] == "memory_per_router":
        memory_per_router.main(sys.argv[2:])
    else:
        for name in sys.argv[1:] or list(BENCHMARKS):
            BENCHMARKS[name]()
            print()
