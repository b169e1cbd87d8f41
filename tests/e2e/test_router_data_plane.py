"""End to end: a Router reconciled by the operator, served by `turnout_router`.

The operator (the `operators` harness: real control plane, Postgres, the Python
example engine's manager) turns a Router into a ConfigMap `<router>-router-v1`.
The test reads that ConfigMap from the cluster and starts `turnout_router` as a
local process with exactly its `router.yaml`, except for two rewrites a pod
would not need: `experimentEngine.pluginBinary` points at the local plugin
file the initContainer would have copied, and the route endpoints point at
upstream servers on 127.0.0.1 (tests never dial pod or service addresses).
Requests through it must reach the routes the treatments name.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.cases.treatments import reference_variant
from tests.integration.test_operator import router_manifest
from tests.substrate.operator_fixtures import OperatorHarness
from tests.substrate.router_process import RouterProcess, Upstream, until_ready

pytestmark = pytest.mark.e2e


async def test_requests_reach_the_routes_the_treatments_name(
    operators: OperatorHarness, tmp_path: Path
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    configmap = h.kubectl_json("get", "configmap", "demo-router-v1")
    written: dict[str, Any] = yaml.safe_load(configmap["data"]["router.yaml"])

    upstreams = {name: await Upstream(name).start() for name in ("control", "treatment-1")}
    router: RouterProcess | None = None
    try:
        local = json.loads(json.dumps(written))
        # The only two rewrites (see the module docstring).
        local["experimentEngine"]["pluginBinary"] = str(h.python_plugin)
        for route in local["routes"]:
            route["endpoint"] = upstreams[route["id"]].url
        assert {k: v for k, v in local.items() if k not in ("routes", "experimentEngine")} == {
            k: v for k, v in written.items() if k not in ("routes", "experimentEngine")
        }
        router = RouterProcess(local, tmp_path)
        await asyncio.to_thread(router.start)
        await until_ready(router)
        async with aiohttp.ClientSession() as http:
            for unit in range(1, 301):
                async with http.post(
                    f"{router.url}/v1/predict", json={"client": {"id": unit}}
                ) as response:
                    assert response.status == 200
                    body = await response.json()
                    assert body["route"] == reference_variant(unit), unit
                    assert response.headers["Turnout-Route-Reason"] == "treatment"
        served = {name: len(up.received) for name, up in upstreams.items()}
        assert served["control"] and served["treatment-1"]
        assert sum(served.values()) == 300
    finally:
        if router is not None:
            router.stop()
        for upstream in upstreams.values():
            await upstream.stop()
