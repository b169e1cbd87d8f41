"""A separate OS process that records router versions, for the concurrency test.

Started several times at once by ``test_store.py``: each copy opens its own
connection pool, says ``ready``, waits for ``go`` on stdin (so that all copies write
at the same moment rather than one after another as they finish starting), records
the hashes named on its command line in order, and prints what it got as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

from turnout_operator.store import RouterRef, VersionDraft, VersionStore


def draft(config_hash: str) -> VersionDraft:
    """The draft for a hash: the same hash always gives the same content."""
    return VersionDraft(
        config_hash=config_hash,
        spec={"routes": [{"id": config_hash, "endpoint": f"http://{config_hash}.svc"}]},
        experiment_engine={"type": "nop", "config": {"hash": config_hash}},
        router_image="turnout/router:test",
    )


async def main(url: str, uid: str, hashes: list[str]) -> None:
    store = VersionStore.connect(url, pool_size=2)
    try:
        await store.ping()
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("expected go")
        router = RouterRef(namespace="default", name="concurrent", uid=uid)
        results = []
        for config_hash in hashes:
            record, created = await store.record(router, draft(config_hash))
            results.append([config_hash, record.number, created])
        print(json.dumps(results), flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3].split(",")))
