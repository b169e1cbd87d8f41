"""What the Router webhook decides without asking a plugin (the plugin's part is in
tests/integration/test_admission_webhook.py, with the real API server)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from turnout_operator.api.engine_config import parse_engines
from turnout_operator.engines.registry import EngineRegistry
from turnout_operator.reconcile.admission import review_router

pytestmark = pytest.mark.unit

ENGINES = EngineRegistry.from_configs(
    parse_engines('[{"name": "xp", "type": "rpc-plugin", "rpcPlugin": {"image": "x:1"}}]'),
    Path("/nonexistent/plugins"),  # never started: these checks do not need the plugin
    5.0,
)


def router(name: str = "demo", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routes": [{"id": "a", "endpoint": "http://a:8080/p", "timeout": "1s"}],
        "fallbackRoute": "a",
        "experimentEngine": {"type": "xp", "config": {"x": 1}},
        "routeNamePath": "route_name",
    }
    body.update(spec)
    return {"metadata": {"name": name}, "spec": body}


async def test_spec_model_errors_are_refused_with_the_field() -> None:
    bad = router(fallbackRoute="nowhere")
    verdict = await review_router("CREATE", None, bad, ENGINES)
    assert not verdict.allowed
    assert verdict.message == "spec.fallbackRoute: must be the id of one of spec.routes"
    negative = await review_router("CREATE", None, router(replicas=-1), ENGINES)
    assert negative.message == "spec.replicas: Input should be greater than or equal to 0"


async def test_a_bad_name_is_refused_with_the_crds_message() -> None:
    verdict = await review_router("CREATE", None, router("Bad_Name"), ENGINES)
    assert not verdict.allowed
    assert verdict.message.startswith("metadata.name: a Router name must be a DNS-1035 label")


async def test_an_unknown_engine_is_refused_and_the_configured_ones_named() -> None:
    verdict = await review_router(
        "CREATE", None, router(experimentEngine={"type": "other"}), ENGINES
    )
    assert not verdict.allowed
    assert verdict.message == (
        "spec.experimentEngine.type: engine 'other' is not configured in this operator; "
        "configured engines: nop, xp"
    )


async def test_nop_needs_no_engine() -> None:
    nop = router(experimentEngine={"type": "nop"})
    del nop["spec"]["routeNamePath"]
    assert (await review_router("CREATE", None, nop, ENGINES)).allowed


async def test_a_plugin_that_is_not_running_allows_with_a_warning() -> None:
    verdict = await review_router("CREATE", None, router(), ENGINES)
    assert verdict.allowed
    assert len(verdict.warnings) == 1
    assert verdict.warnings[0].startswith(
        "engine 'xp' could not check spec.experimentEngine.config now (its plugin is not running"
    )


async def test_updates_that_keep_the_spec_or_delete_are_never_refused() -> None:
    # An invalid Router that got in while the webhook was off can still get finalizers,
    # labels and its deletion.
    bad = router(fallbackRoute="nowhere")
    relabelled = copy.deepcopy(bad)
    relabelled["metadata"]["labels"] = {"team": "x"}
    assert await review_router("UPDATE", bad, relabelled, ENGINES) == (
        await review_router("UPDATE", bad, bad, ENGINES)
    )
    assert (await review_router("UPDATE", bad, relabelled, ENGINES)).allowed
    deleting = copy.deepcopy(bad)
    deleting["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    deleting["spec"]["replicas"] = 3
    assert (await review_router("UPDATE", bad, deleting, ENGINES)).allowed
    # A spec change is checked.
    changed = copy.deepcopy(bad)
    changed["spec"]["replicas"] = 3
    assert not (await review_router("UPDATE", bad, changed, ENGINES)).allowed


async def test_an_update_that_keeps_the_experiment_does_not_ask_the_plugin() -> None:
    old = router()
    new = router(replicas=2)
    verdict = await review_router("UPDATE", old, new, ENGINES)
    assert verdict.allowed and verdict.warnings == ()  # no "could not check" warning
    new_config = router(experimentEngine={"type": "xp", "config": {"x": 2}})
    assert (await review_router("UPDATE", old, new_config, ENGINES)).warnings
