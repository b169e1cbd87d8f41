"""Every way a pass can end, decided in-process on recorded objects (tests/reconcile/world.py).

Each test names the branch it drives; the expected phases, reasons and writes are
written out from docs/operator.md's tables, not taken from the code. The same
behaviours are checked against a real cluster in tests/integration/test_operator.py:
this tier makes each decision fast to test and to break on purpose (`make mutation`).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from tests.reconcile.world import (
    NAMESPACE,
    PLUGIN_SHA256,
    RETRY_SECONDS,
    ROUTER_NAME,
    SECRET,
    World,
    recorded,
    version_row,
)
from turnout_operator.builders import desired as builders_desired
from turnout_operator.builders import drift
from turnout_operator.cache import RouterObject
from turnout_operator.cache import desired as cache_desired
from turnout_operator.cache import routers as cache_routers
from turnout_operator.kube.client import KubeError, RouterGone
from turnout_operator.store import VersionStatus

pytestmark = pytest.mark.unit

CHILDREN = [
    ("apply", "ConfigMap", f"{ROUTER_NAME}-router-v1"),
    ("apply", "Service", f"{ROUTER_NAME}-router"),
    ("apply", "Deployment", f"{ROUTER_NAME}-router"),
]
MIRROR_V1 = ("apply", "RouterVersion", f"{ROUTER_NAME}-v1")
STATUS = ("status", "Router", ROUTER_NAME)
PODS_POLL_SECONDS = 5.0  # docs/operator.md: a rollout waiting on its new pods
PROGRESS_WRITE_SECONDS = 30.0  # a progress-only status change waits this long (publish.py)
ROLLOUT_POLL_SECONDS = 30.0


def no_version_asked(world: World) -> bool:
    """No version was looked up or recorded (the RouterVersion mirror of a Router with no
    version in memory still reads its rows, to delete mirrors of versions it had)."""
    return set(world.store.calls) <= {"list_versions"}


def router_with(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = recorded("router.json")
    body["spec"] = {**body["spec"], **spec}
    return body


async def deployed_world() -> World:
    """Version 1 applied, rolled out and Deployed, and its watch events delivered."""
    world = World()
    await world.run()
    world.deliver(*world.api.objects.values())
    world.deliver(world.api.roll("complete"))
    await world.run()
    assert world.status["phase"] == "Deployed"
    world.deliver(*world.api.objects.values())
    return world


# --- passes that stop before deploying (ConfigValid, EngineAvailable) ---


async def test_a_name_the_crd_would_refuse_fails_the_pass_and_writes_nothing_else() -> None:
    body = recorded("router.json")
    body["metadata"]["name"] = "Not_A_Label"
    world = World(body)
    requeue = await world.run()
    assert requeue is None  # permanent until the spec (here: the object) changes
    assert world.api.writes == [("status", "Router", "Not_A_Label")]
    assert world.status["phase"] == "Failed"
    assert world.condition("ConfigValid")["reason"] == "InvalidSpec"
    assert no_version_asked(world)


async def test_an_invalid_spec_names_the_field_and_asks_nobody() -> None:
    world = World(router_with(fallbackRoute="nowhere"))
    assert await world.run() is None
    assert world.api.writes == [STATUS]
    assert world.condition("ConfigValid")["reason"] == "InvalidSpec"
    assert "spec" in world.condition("ConfigValid")["message"]
    assert world.engine.asked == 0 and no_version_asked(world)


async def test_an_unknown_engine_lists_the_configured_ones() -> None:
    world = World(router_with(experimentEngine={"type": "xp", "config": {}}))
    assert await world.run() is None
    message = world.condition("ConfigValid")["message"]
    assert world.condition("ConfigValid")["reason"] == "UnknownEngine"
    assert "'xp'" in message and "nop, hardcoded" in message
    assert world.api.writes == [STATUS]


async def test_a_plugin_not_started_yet_and_down_waits_and_retries() -> None:
    world = World()
    world.engine.binary_sha256 = None  # its digest is read when it starts
    world.engine.answer = "down"
    assert await world.run() == RETRY_SECONDS
    assert world.status["phase"] == "Pending"
    assert world.condition("EngineAvailable")["reason"] == "PluginDown"
    assert world.condition("Progressing")["reason"] == "EngineUnavailable"
    assert "plugin exited with status 3" in world.status["message"]
    assert "'hardcoded'" in world.status["message"]
    assert no_version_asked(world) and world.api.writes == [STATUS]


async def test_a_plugin_that_goes_down_while_asked_waits_and_retries() -> None:
    world = World()
    world.engine.answer = "down"
    assert await world.run() == RETRY_SECONDS
    assert world.condition("EngineAvailable")["status"] == "False"
    assert no_version_asked(world) and world.api.writes == [STATUS]


async def test_a_refused_experiment_config_quotes_the_plugin_without_its_secrets() -> None:
    world = World()
    world.engine.answer = "reject"
    assert await world.run() is None
    condition = world.condition("ConfigValid")
    assert condition["reason"] == "ExperimentConfigInvalid"
    assert "unknown experiment" in condition["message"]
    assert SECRET not in str(world.status) and SECRET not in str(world.events)
    assert no_version_asked(world) and world.api.writes == [STATUS]


async def test_a_runner_config_that_is_not_json_is_the_engines_error() -> None:
    world = World()
    world.engine.answer = "not-json"
    assert await world.run() is None
    assert world.condition("ConfigValid")["reason"] == "EngineError"
    assert no_version_asked(world) and world.api.writes == [STATUS]


async def test_a_database_that_is_down_waits_and_applies_nothing() -> None:
    world = World()
    world.store.down = True
    assert await world.run() == RETRY_SECONDS
    assert world.status["phase"] == "Pending"
    assert world.condition("Progressing")["reason"] == "DatabaseUnavailable"
    assert world.api.writes == [STATUS]


# --- deploying, deployed, idle ---


async def test_a_new_router_records_version_1_and_applies_its_objects_configmap_first() -> None:
    world = World()
    requeue = await world.run()
    assert world.api.writes[:3] == CHILDREN
    assert STATUS in world.api.writes
    assert [row.number for row in world.store.rows[world.router.uid]] == [1]
    assert world.status["phase"] == "Deploying"
    assert world.status["currentVersion"] == 1
    assert world.condition("Progressing")["reason"] == "RollingOut"
    assert requeue == ROLLOUT_POLL_SECONDS  # no controller has seen the Deployment yet
    template = world.deployment()["spec"]["template"]
    assert template["metadata"]["labels"]["turnout.dev/version"] == "1"
    assert PLUGIN_SHA256 in str(world.api.objects[("ConfigMap", NAMESPACE, "demo-router-v1")])


async def test_a_complete_rollout_is_deployed_settled_and_mirrored() -> None:
    world = World()
    await world.run()
    world.deliver(*world.api.objects.values())
    world.deliver(world.api.roll("complete"))
    assert await world.run() is None
    assert world.status["phase"] == "Deployed"
    assert world.status["deployedVersion"] == 1
    assert world.condition("Ready")["reason"] == "Deployed"
    assert "mark_deployed" in world.store.calls
    assert world.store.rows[world.router.uid][0].status == VersionStatus.DEPLOYED
    assert MIRROR_V1 in world.api.writes
    # The rollout's Normal Events were held and are posted with its end, as one.
    [event] = world.events
    assert event.type == "Normal" and "version 1 recorded" in event.message
    assert "version 1 is serving" in event.message
    # No child object is applied again: each was found as wanted.
    assert [w for w in world.api.writes if w[1] in ("ConfigMap", "Service", "Deployment")] == []


async def test_an_idle_deployed_router_costs_no_write_and_no_query() -> None:
    world = await deployed_world()
    assert await world.run() is None
    assert world.api.writes == []
    assert world.store.calls == []
    assert world.events == []


async def test_a_second_pass_before_the_status_watch_event_repeats_nothing() -> None:
    world = World()
    before = copy.deepcopy(world.api.router)  # the body the loop holds until the echo
    await world.run()
    assert STATUS in world.api.writes
    await world.run(seen=before)
    assert STATUS not in world.api.writes
    assert world.events == []
    # Once the watch delivers the write, its echo is known as the operator's own.
    assert world.reconciler.own_write(world.router)
    assert not world.reconciler.own_write(RouterObject.from_body(before))


async def test_a_hand_edited_deployment_is_applied_back() -> None:
    world = await deployed_world()
    edited = world.api.edit("Deployment", f"{ROUTER_NAME}-router", {"spec": {"replicas": 5}})
    world.deliver(edited)
    await world.run()
    children = [w for w in world.api.writes if w[0] != "status"]
    assert children == [("apply", "Deployment", f"{ROUTER_NAME}-router")]
    assert world.deployment()["spec"]["replicas"] == 1


async def test_fields_someone_else_set_are_not_drift() -> None:
    world = await deployed_world()
    change = {"spec": {"template": {"spec": {"priorityClassName": "high"}}}}
    world.deliver(world.api.edit("Deployment", f"{ROUTER_NAME}-router", change))
    await world.run()
    assert world.api.writes == []


async def test_a_deleted_service_is_made_again() -> None:
    world = await deployed_world()
    service = world.api.objects.pop(("Service", NAMESPACE, f"{ROUTER_NAME}-router"))
    world.deliver(service, event="DELETED")
    await world.run()
    assert world.api.writes == [("apply", "Service", f"{ROUTER_NAME}-router")]


async def test_a_change_of_replicas_alone_scales_without_a_new_version() -> None:
    world = await deployed_world()
    world.change_spec(replicas=3)
    await world.run()
    assert [row.number for row in world.store.rows[world.router.uid]] == [1]
    assert ("apply", "Deployment", f"{ROUTER_NAME}-router") in world.api.writes
    assert ("apply", "ConfigMap", f"{ROUTER_NAME}-router-v2") not in world.api.writes
    assert world.deployment()["spec"]["replicas"] == 3
    assert world.engine.asked == 1  # only for version 1


async def test_autoscaling_applies_an_hpa_and_turning_it_off_deletes_it() -> None:
    world = await deployed_world()
    world.change_spec(autoscaling={"minReplicas": 1, "maxReplicas": 3})
    await world.run()
    assert ("apply", "HorizontalPodAutoscaler", f"{ROUTER_NAME}-router") in world.api.writes
    world.deliver(*world.api.objects.values())
    spec = dict(world.api.router["spec"])
    del spec["autoscaling"]
    world.api.router["spec"] = spec
    world.change_spec()
    await world.run()
    assert ("delete", "HorizontalPodAutoscaler", f"{ROUTER_NAME}-router") in world.api.writes


async def test_objects_the_api_server_refuses_fail_the_pass_and_retry() -> None:
    world = World()
    world.api.refuse["Deployment"] = KubeError(403, "deployments is forbidden: exceeded quota")
    assert await world.run() == RETRY_SECONDS
    assert world.status["endpoint"].startswith(f"http://{ROUTER_NAME}-router.{NAMESPACE}.svc")
    assert world.status["phase"] == "Failed"
    assert world.condition("Progressing")["reason"] == "ApplyFailed"
    assert "exceeded quota" in world.status["message"]


async def test_a_new_spec_makes_version_2_while_version_1_keeps_serving() -> None:
    world = await deployed_world()
    world.change_spec(routeNamePath="model")
    await world.run()
    assert [row.number for row in world.store.rows[world.router.uid]] == [1, 2]
    assert world.status["phase"] == "Deploying"
    assert world.status["deployedVersion"] == 1
    assert world.condition("Ready")["reason"] == "PreviousVersionServing"
    assert ("apply", "ConfigMap", f"{ROUTER_NAME}-router-v2") in world.api.writes


async def test_a_spec_changed_back_reuses_its_version_without_asking_the_plugin() -> None:
    world = await deployed_world()
    world.change_spec(routeNamePath="model")
    await world.run()
    asked = world.engine.asked
    world.change_spec(routeNamePath="route_name")
    await world.run()
    assert world.engine.asked == asked
    assert [row.number for row in world.store.rows[world.router.uid]] == [1, 2]
    assert world.status["currentVersion"] == 1


# --- failed rollouts ---


async def version_2_failed() -> World:
    world = await deployed_world()
    world.change_spec(resources={"requests": {"cpu": "5000"}})
    await world.run()
    world.deliver(*world.api.objects.values())
    world.deliver(world.api.roll("failed"))
    await world.run()
    return world


async def test_a_rollout_past_its_deadline_fails_and_restores_the_deployed_version() -> None:
    world = await version_2_failed()
    assert world.status["phase"] == "Failed"
    assert world.status["currentVersion"] == 2
    assert world.status["deployedVersion"] == 1
    assert world.condition("Ready")["reason"] == "PreviousVersionServing"
    assert "ProgressDeadlineExceeded" in world.status["message"] or (
        "progress" in world.status["message"]
    )
    rows = world.store.rows[world.router.uid]
    assert [(r.number, r.status) for r in rows] == [
        (1, VersionStatus.DEPLOYED),
        (2, VersionStatus.FAILED),
    ]
    template = world.deployment()["spec"]["template"]
    assert template["metadata"]["labels"]["turnout.dev/version"] == "1"
    assert ("Warning", "RolloutFailed") in [(e.type, e.reason) for e in world.events]


async def test_a_failed_version_is_not_tried_again_while_the_spec_stays() -> None:
    world = await version_2_failed()
    world.deliver(*world.api.objects.values())
    asked = world.engine.asked
    assert await world.run() is None
    assert world.engine.asked == asked
    assert world.status["phase"] == "Failed"
    assert [w for w in world.api.writes if w[1] == "Deployment"] == []
    assert "mark_failed" not in world.store.calls


async def test_new_pods_that_can_never_start_are_read_while_the_rollout_waits() -> None:
    world = await deployed_world()
    world.change_spec(resources={"requests": {"cpu": "5000"}})
    await world.run()
    world.deliver(*world.api.objects.values())
    world.api.pods = recorded("pods-pending.json")
    world.deliver(world.api.roll("progressing"))
    requeue = await world.run()
    assert requeue == PODS_POLL_SECONDS
    assert world.api.pod_reads == 1
    assert world.status["phase"] == "Deploying"
    assert "rolling out version 2" in world.status["message"]
    # A progress-only change waits for its turn; then the recorded pod speaks, in the
    # scheduler's own words, and the rollout is left to its progress deadline.
    world.now += PROGRESS_WRITE_SECONDS + 1
    assert await world.run() == PODS_POLL_SECONDS
    assert world.status["phase"] == "Deploying"
    message = world.status["message"]
    assert (
        "pod demo-router-7b984ff44-kxn62: not scheduled: 0/2 nodes are available: 2 Insufficient cpu."
        in message
    )


async def test_a_rollout_not_started_yet_waits_for_the_deployment_not_the_pods() -> None:
    world = World()
    assert await world.run() == ROLLOUT_POLL_SECONDS
    assert world.api.pod_reads == 0
    assert "waiting for the rollout to start" in world.status["message"]


# --- suspend, deletion, a Router gone ---


async def test_suspend_deletes_the_objects_undeploys_and_then_writes_nothing() -> None:
    world = await deployed_world()
    world.change_spec(suspend=True)
    assert await world.run() is None
    deleted = {(kind, name) for verb, kind, name in world.api.writes if verb == "delete"}
    assert deleted == {
        ("Deployment", f"{ROUTER_NAME}-router"),
        ("Service", f"{ROUTER_NAME}-router"),
        ("ConfigMap", f"{ROUTER_NAME}-router-v1"),
    }
    assert world.status["phase"] == "Undeployed"
    assert world.condition("Ready")["reason"] == "Suspended"
    assert world.store.rows[world.router.uid][0].status == VersionStatus.UNDEPLOYED
    assert world.cache.record(world.router.uid) is None
    await world.run()
    assert world.api.writes == [] and no_version_asked(world)


async def test_resuming_deploys_the_same_version_again() -> None:
    world = await deployed_world()
    world.change_spec(suspend=True)
    await world.run()
    world.change_spec(suspend=False)
    await world.run()
    assert world.api.writes[:3] == CHILDREN
    assert [row.number for row in world.store.rows[world.router.uid]] == [1]
    assert "find_by_hash" in world.store.calls  # the record was forgotten at suspend


async def test_a_router_deleted_since_it_was_seen_ends_the_pass_with_router_gone() -> None:
    world = World()
    world.api.gone = True
    with pytest.raises(RouterGone):
        await world.run()


async def test_finalize_forgets_the_router_and_undeploys_its_versions() -> None:
    world = await deployed_world()
    router = world.router
    await world.reconciler.finalize(router)
    assert world.cache.record(router.uid) is None
    assert world.cache.previous(router).phase == router.status.get("phase")
    assert world.store.rows[router.uid][0].status == VersionStatus.UNDEPLOYED


async def test_the_sweep_undeploys_routers_missing_from_the_list_only() -> None:
    world = await deployed_world()
    router = world.router
    other = copy.deepcopy(router.ref)
    swept = await world.reconciler.sweep([router.ref], {router.uid}, [NAMESPACE])
    assert swept == 0
    swept = await world.reconciler.sweep([other], set(), ["elsewhere"])
    assert swept == 0
    swept = await world.reconciler.sweep([other], set(), [NAMESPACE])
    assert swept == 1
    assert world.store.rows[router.uid][0].status == VersionStatus.UNDEPLOYED


# --- what a pass tells: messages, metrics, log lines ---


async def test_messages_carry_what_failed_in_its_own_words() -> None:
    world = World()
    world.engine.answer = "down"
    await world.run()
    assert "plugin exited with status 3" in world.status["message"]
    assert "'hardcoded'" in world.condition("EngineAvailable")["message"]
    world = World()
    world.engine.answer = "reject"
    await world.run()
    assert "engine 'hardcoded' rejected it" in world.condition("ConfigValid")["message"]
    world = World()
    world.store.down = True
    await world.run()
    assert "connection refused" in world.status["message"]


async def test_the_plugin_is_asked_about_the_specs_own_experiment_config() -> None:
    world = World()
    await world.run()
    config = world.api.router["spec"]["experimentEngine"]["config"]
    assert world.engine.configs == [config, config]  # validated, then its runner config
    row = world.store.rows[world.router.uid][0]
    assert row.experiment_engine["config"] == config
    assert row.experiment_engine["runnerConfig"] == {
        "engine": "hardcoded",
        "experiments": ["exp_1"],
    }
    assert row.router_image == "registry.example/turnout:0.1.0"
    assert row.experiment_engine["pluginSha256"] == PLUGIN_SHA256


async def test_a_deployed_router_shows_its_endpoint_and_standing() -> None:
    world = await deployed_world()
    assert (
        world.status["endpoint"]
        == f"http://{ROUTER_NAME}-router.{NAMESPACE}.svc.cluster.local/v1/predict"
    )
    standing = world.reconciler.phases[world.router.uid]
    assert (standing.namespace, standing.name, standing.phase, standing.ready) == (
        NAMESPACE,
        ROUTER_NAME,
        "Deployed",
        True,
    )


async def test_a_pass_that_changed_something_logs_one_line_with_its_timings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    with caplog.at_level(logging.INFO, logger="turnout_operator.reconcile.reconciler"):
        await world.run()
    [line] = [r for r in caplog.records if r.getMessage() == "reconciled"]
    fields = line.__dict__
    assert (fields["namespace"], fields["router"], fields["generation"]) == (
        NAMESPACE,
        ROUTER_NAME,
        world.router.generation,
    )
    assert (fields["phase"], fields["version"]) == ("Deploying", 1)
    assert {"plugin_ms", "db_ms", "total_ms"} <= set(fields)
    caplog.clear()
    world.deliver(*world.api.objects.values())
    with caplog.at_level(logging.INFO, logger="turnout_operator.reconcile.reconciler"):
        await world.run()  # nothing changed: nothing logged
    assert [r for r in caplog.records if r.getMessage() == "reconciled"] == []


async def test_a_router_with_the_nop_engine_asks_no_plugin() -> None:
    world = World(router_with(experimentEngine={"type": "nop"}, routeNamePath=None))
    world.deliver(*world.api.objects.values())
    await world.run()
    assert world.engine.asked == 0
    assert world.api.writes[:3] == CHILDREN
    assert world.condition("EngineAvailable")["reason"] == "Builtin"
    assert "pluginSha256" not in world.store.rows[world.router.uid][0].experiment_engine


async def test_a_status_edited_by_hand_is_written_back() -> None:
    world = await deployed_world()
    world.api.router["status"] = {}
    world.api.router["metadata"]["resourceVersion"] = str(next(world.api._revisions))
    await world.run()
    assert world.api.writes == [STATUS]
    assert world.status["phase"] == "Deployed"


async def test_routers_side_by_side_keep_apart() -> None:
    world = await deployed_world()
    other = world.add_router("other", routeNamePath="model")
    world.api.main = "other"
    await world.run()
    assert ("apply", "Deployment", "other-router") in world.api.writes
    assert world.status["currentVersion"] == 1
    world.api.main = ROUTER_NAME
    world.deliver(*world.api.objects.values())
    # The first Router's memos are its own: still nothing to do for it.
    assert await world.run() is None
    assert world.api.writes == [] and world.store.calls == []
    assert world.cache.record(other["metadata"]["uid"]) is not None
    assert world.cache.record(world.router.uid) != world.cache.record(other["metadata"]["uid"])
    await world.reconciler.finalize(RouterObject.from_body(other))
    assert world.cache.record(world.router.uid) is not None
    await world.run()
    assert world.api.writes == []


async def test_a_third_failing_version_restores_the_one_that_served() -> None:
    world = await version_2_failed()
    world.change_spec(resources={"requests": {"cpu": "6000"}})
    await world.run()
    world.deliver(*world.api.objects.values())
    world.deliver(world.api.roll("failed"))
    await world.run()
    assert world.status["currentVersion"] == 3
    assert world.status["deployedVersion"] == 1
    template = world.deployment()["spec"]["template"]
    assert template["metadata"]["labels"]["turnout.dev/version"] == "1"
    assert world.store.rows[world.router.uid][2].error  # why it failed is kept


async def test_suspend_with_the_database_down_retries_and_keeps_what_it_knew() -> None:
    world = await deployed_world()
    world.store.down = True
    world.change_spec(suspend=True)
    assert await world.run() == RETRY_SECONDS
    assert world.condition("Progressing")["reason"] == "DatabaseUnavailable"
    assert "connection refused" in world.status["message"]


async def test_suspend_refused_by_the_api_server_retries() -> None:
    world = await deployed_world()
    world.api.refuse["Deployment"] = KubeError(403, "deployments is forbidden")
    world.change_spec(suspend=True)
    assert await world.run() == RETRY_SECONDS
    assert world.condition("Progressing")["reason"] == "ApplyFailed"
    assert "deployments is forbidden" in world.status["message"]


async def test_suspend_deletes_an_hpa_too() -> None:
    world = await deployed_world()
    world.change_spec(autoscaling={"minReplicas": 1, "maxReplicas": 3})
    await world.run()
    world.deliver(*world.api.objects.values())
    world.change_spec(suspend=True)
    await world.run()
    assert ("delete", "HorizontalPodAutoscaler", f"{ROUTER_NAME}-router") in world.api.writes
    assert ("HorizontalPodAutoscaler", NAMESPACE, f"{ROUTER_NAME}-router") not in world.api.objects


async def test_a_failed_rollout_records_why() -> None:
    world = await version_2_failed()
    row = world.store.rows[world.router.uid][1]
    assert row.error is not None and "progress" in row.error


# --- what waits, and what is not done again ---


async def test_an_idle_router_builds_and_compares_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    world = await deployed_world()
    built: list[int] = []
    compared: list[str] = []
    build = builders_desired.desired_objects
    compare = drift.differs

    def counted_build(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return build(*args, **kwargs)

    def counted_compare(desired: dict[str, Any], actual: dict[str, Any] | None) -> bool:
        compared.append(desired["kind"])
        return compare(desired, actual)

    # Where the cache looks them up (the names its modules imported).
    monkeypatch.setattr(cache_desired, "desired_objects", counted_build)
    monkeypatch.setattr(cache_routers, "differs", counted_compare)
    await world.run()
    assert (built, compared) == ([], [])
    # A watch event that changes only the Deployment's status costs no comparison either.
    world.deliver(world.api.roll("complete"))
    await world.run()
    assert (built, compared) == ([], [])
    # A hand edit of one object compares that object again (the objects built for this
    # version are kept: nothing is built).
    world.deliver(
        world.api.edit("Service", f"{ROUTER_NAME}-router", {"metadata": {"labels": {"x": "y"}}})
    )
    await world.run()
    assert (built, compared) == ([], ["Service"])


async def test_a_first_version_made_here_is_mirrored_without_reading_the_rows() -> None:
    world = World()
    await world.run()
    world.deliver(*world.api.objects.values())
    world.deliver(world.api.roll("complete"))
    await world.run()
    assert MIRROR_V1 in world.api.writes
    assert "list_versions" not in world.store.calls


async def test_a_deleted_routerversion_comes_back_without_a_database_read() -> None:
    world = await deployed_world()
    mirror = world.api.objects.pop(("RouterVersion", NAMESPACE, f"{ROUTER_NAME}-v1"))
    world.deliver(mirror, event="DELETED")
    await world.run()
    assert world.api.writes == [MIRROR_V1]
    assert world.store.calls == []


async def test_a_progress_only_change_waits_and_is_written_when_due() -> None:
    world = World()
    await world.run()
    world.deliver(*world.api.objects.values())
    world.deliver(world.api.roll("progressing"))
    requeue = await world.run()
    assert STATUS not in world.api.writes  # the same phase and conditions: it can wait
    assert requeue is not None and 0 < requeue <= 30.0
    world.now += 31.0
    await world.run()
    assert STATUS in world.api.writes


async def test_the_mirror_of_a_version_rolling_out_waits_for_its_end() -> None:
    world = World()
    requeue = await world.run()
    assert MIRROR_V1 not in world.api.writes
    assert requeue is not None and requeue <= 60.0
    world.now += 61.0
    world.deliver(*world.api.objects.values())
    await world.run()
    assert MIRROR_V1 in world.api.writes


async def test_the_engine_condition_names_the_running_engine() -> None:
    world = await deployed_world()
    assert world.condition("EngineAvailable")["reason"] == "PluginRunning"
    assert "'hardcoded'" in world.condition("EngineAvailable")["message"]


async def test_the_sweep_goes_on_past_live_routers() -> None:
    world = await deployed_world()
    live = world.router
    gone = world.add_router("gone")
    gone_ref = RouterObject.from_body(gone).ref
    world.store.rows[gone_ref.uid] = [version_row(1, VersionStatus.DEPLOYED)]
    swept = await world.reconciler.sweep([live.ref, gone_ref], {live.uid}, [NAMESPACE])
    assert swept == 1
    assert world.store.rows[gone_ref.uid][0].status == VersionStatus.UNDEPLOYED
    assert world.store.rows[live.uid][0].status == VersionStatus.DEPLOYED
