"""`make bench`: every benchmark, one after the other."""

from tests.bench import plugin_rpc

if __name__ == "__main__":
    plugin_rpc.main()
