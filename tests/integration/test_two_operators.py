"""Two operator processes against one cluster and one database, with and without the Lease.

With leader election one replica reconciles and the other waits; killing the
leader hands the Lease and the work over. Without it (a split brain, both
active), the database's constraints and server-side apply must still leave
every Router with unique, gap-free versions and consistent children. Expected
values come from the specs the test applied and rows read with plain SQL.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import psycopg
import pytest
import yaml

from devenv.operator import log_records, wait_for
from devenv.postgres import libpq_url
from devenv.procs import Process
from tests.integration.test_operator import router_manifest
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e

LEASE = "turnout-operator"


def messages(process: Process, message: str) -> list[dict[str, Any]]:
    return [r for r in log_records(process.log_path) if r.get("message") == message]


def lease_spec(h: OperatorHarness) -> dict[str, Any]:
    spec: dict[str, Any] = (h.kubectl_json("get", "lease", LEASE) or {}).get("spec", {})
    return spec


def routes(revision: int) -> list[dict[str, Any]]:
    """The routes of one revision of a spec: the revision is in the timeouts."""
    return [
        {
            "id": "control",
            "endpoint": "http://control.models:8080/predict",
            "timeout": f"{revision + 1}s",
        },
        {"id": "treatment-1", "endpoint": "http://t1.models:8080/predict", "timeout": "2s"},
    ]


def test_only_the_leader_reconciles_and_a_standby_takes_over_when_it_is_killed(
    operators: OperatorHarness,
) -> None:
    h = operators
    first = h.start(env={"TURNOUT_POD_NAME": "replica-a"})
    wait_for(lambda: messages(first, "became leader"), 60, "replica a leads", first)
    # Its own workdir: copying the plugin over the one replica a runs would fail.
    second = h.start(env={"TURNOUT_POD_NAME": "replica-b"}, workdir=h.workdir / "b")
    (leader,) = messages(first, "became leader")
    assert leader["identity"] == f"replica-a_{first.pid}"
    waiting = wait_for(
        lambda: messages(second, "waiting for leadership"), 60, "replica b waits", second
    )
    assert waiting[0]["holder"] == f"replica-a_{first.pid}"

    h.apply(router_manifest(name="r0", routes=routes(0)))
    h.wait_deployed("r0", 1)
    assert [r["router"] for r in messages(first, "router loop started")] == ["r0"]
    assert messages(second, "router loop started") == []
    assert messages(second, "reconciled") == []
    assert messages(second, "owned objects loaded") == []  # not even kopf's startup ran
    assert lease_spec(h)["holderIdentity"] == f"replica-a_{first.pid}"
    transitions = lease_spec(h)["leaseTransitions"]

    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(timeout=30)
    h.patch_spec("r0", {"routes": routes(1)})  # changed after the kill: only b can do it

    h.wait_deployed("r0", 2, timeout=120)
    assert messages(second, "became leader")
    assert [r["router"] for r in messages(second, "router loop started")] == ["r0"]
    spec = lease_spec(h)
    assert spec["holderIdentity"] == f"replica-b_{second.pid}"
    assert spec["leaseTransitions"] == transitions + 1
    assert [(r["number"], r["status"]) for r in h.version_rows("r0")] == [
        (1, "undeployed"),
        (2, "deployed"),
    ]


def test_sigterm_releases_the_lease_for_the_standby(operators: OperatorHarness) -> None:
    h = operators
    first = h.start(env={"TURNOUT_POD_NAME": "replica-a"})
    wait_for(lambda: messages(first, "became leader"), 60, "replica a leads", first)
    second = h.start(env={"TURNOUT_POD_NAME": "replica-b"}, workdir=h.workdir / "b")
    wait_for(lambda: messages(second, "waiting for leadership"), 60, "replica b waits", second)

    first.popen.send_signal(signal.SIGTERM)
    assert first.popen.wait(timeout=60) == 0
    assert messages(first, "released leadership")
    # Released, not left to expire: a has left the Lease (b may have taken it already).
    assert lease_spec(h).get("holderIdentity", "") in ("", f"replica-b_{second.pid}")
    wait_for(lambda: messages(second, "became leader"), 60, "replica b leads", second)
    h.apply(router_manifest(name="r0"))
    h.wait_deployed("r0", 1)
    assert lease_spec(h)["holderIdentity"] == f"replica-b_{second.pid}"

    # A standby stopped while it waits exits cleanly and leaves the Lease alone.
    third = h.start(env={"TURNOUT_POD_NAME": "replica-c"}, workdir=h.workdir / "c")
    wait_for(lambda: messages(third, "waiting for leadership"), 60, "replica c waits", third)
    third.popen.send_signal(signal.SIGTERM)
    assert third.popen.wait(timeout=60) == 0
    assert messages(third, "stopped while waiting for leadership")
    assert lease_spec(h)["holderIdentity"] == f"replica-b_{second.pid}"


ROUTERS = 10
REVISIONS = 3


def test_two_active_operators_keep_versions_unique_and_gap_free(
    operators: OperatorHarness,
) -> None:
    h = operators
    off = {"TURNOUT_LEADER_ELECTION": "false"}
    one = h.start(env=off)
    two = h.start(env=off, workdir=h.workdir / "two")
    names = [f"r{i}" for i in range(ROUTERS)]

    # All created at once, then changed twice while both operators are at work.
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [router_manifest(name=name, routes=routes(0)) for name in names],
    }
    h.apply(listing)
    for revision in range(1, REVISIONS):
        for name in names:
            h.patch_spec(name, {"routes": routes(revision)})

    def settled(name: str) -> bool:
        body = h.router(name)
        status = body.get("status", {})
        return bool(
            status.get("phase") == "Deployed"
            and status.get("observedGeneration") == body["metadata"]["generation"]
            and status.get("deployedVersion") == status.get("currentVersion")
        )

    wait_for(lambda: all(settled(n) for n in names), 240, "every Router Deployed", two)
    for process in (one, two):  # both really were active
        assert {r["router"] for r in messages(process, "router loop started")} == set(names)

    final_timeout = f"{REVISIONS}s"
    with psycopg.connect(libpq_url(h.database_url)) as conn:
        rows = conn.execute(
            """
            select r.name, v.number, v.status, v.spec
            from router_versions v join routers r on r.id = v.router_id
            where r.namespace = %s order by r.name, v.number
            """,
            (h.namespace,),
        ).fetchall()
        router_rows = conn.execute(
            "select name, count(*) from routers where namespace = %s group by name",
            (h.namespace,),
        ).fetchall()
    assert sorted(router_rows) == sorted((name, 1) for name in names)  # one row per Router
    for name in names:
        mine = [row for row in rows if row[0] == name]
        numbers = [row[1] for row in mine]
        # Unique and gap-free: 1..N, at most one version per distinct spec applied.
        assert numbers == list(range(1, len(numbers) + 1)), (name, numbers)
        assert len(numbers) <= REVISIONS
        deployed = [row for row in mine if row[2] == "deployed"]
        assert len(deployed) == 1, (name, mine)
        number, spec = deployed[0][1], deployed[0][3]
        assert spec["routes"][0]["timeout"] == final_timeout  # the row of the last spec
        specs = [json.dumps(row[3], sort_keys=True) for row in mine]
        assert len(set(specs)) == len(specs)  # no spec recorded twice

        status = h.status(name)
        assert status["deployedVersion"] == number
        dep = h.kubectl_json("get", "deployment", f"{name}-router")
        template = dep["spec"]["template"]
        assert template["metadata"]["labels"]["turnout.dev/version"] == str(number)
        volumes = [v.get("configMap", {}).get("name") for v in template["spec"]["volumes"]]
        assert f"{name}-router-v{number}" in volumes
        cm = h.kubectl_json("get", "configmap", f"{name}-router-v{number}")
        config = yaml.safe_load(cm["data"]["router.yaml"])
        assert config["routes"][0]["timeout"] == final_timeout


def test_a_leader_whose_lease_was_taken_exits_at_once(operators: OperatorHarness) -> None:
    """Someone else in the Lease (a standby that judged it expired): the leader must stop."""
    h = operators
    leader = h.start()
    wait_for(lambda: messages(leader, "became leader"), 60, "the operator leads", leader)
    h.cluster.kubectl(
        "patch",
        "lease",
        LEASE,
        "-n",
        h.namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"holderIdentity": "intruder_1"}}),
    )
    assert leader.popen.wait(timeout=60) == 3  # EXIT_LEADERSHIP_LOST
    (lost,) = messages(leader, "leadership lost; exiting to restart as a standby")
    assert "intruder_1" in lost["error"]
