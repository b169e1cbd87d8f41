"""The operator process never loads the official Kubernetes client library.

It is installed beside the operator (the kubectl plugin uses it) and kopf imports it
whenever it can; loaded, it costs tens of MiB for nothing. The operator's startup
line lists the top-level packages in its `sys.modules`, read by the process itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from devenv.operator import log_records, wait_for
from tests.integration.test_operator import router_manifest
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e


def test_the_operator_runs_without_the_official_client_library(
    operators: OperatorHarness,
) -> None:
    h = operators
    process = h.start()

    def started() -> dict[str, Any] | None:
        for record in log_records(process.log_path):
            if record.get("message") == "operator started":
                return record
        return None

    record: dict[str, Any] = wait_for(started, 120, "the operator's startup line", process)
    packages = set(record["packages"])
    # The list is what the process holds: its own code and what it runs on are there.
    assert {"turnout_operator", "plugin_host", "kopf", "aiohttp", "sqlalchemy"} <= packages
    assert "kubernetes" not in packages
    assert record["rss_mib"] > 0
    # And it works: logged in through kopf's watches and its own client alike.
    h.apply(router_manifest(name="r1"))
    h.wait_deployed("r1", 1)
    assert process.alive()
