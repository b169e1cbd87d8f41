"""`make bench`: every benchmark, one after the other."""

from tests.bench import operator_latency, plugin_rpc

if __name__ == "__main__":
    plugin_rpc.main()
    print()
    operator_latency.main()
