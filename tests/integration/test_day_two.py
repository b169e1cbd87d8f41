"""Day two, for real: RouterVersion mirrors and the `kubectl-turnout` executable.

The operator runs as a process against the session's control plane and Postgres;
the plugin is the venv's installed `kubectl-turnout` executable, run as a user
would run it (directly, and through the real kubectl's plugin discovery).
Expected values come from the specs the tests applied and from version rows
read with plain SQL, never from the code under test.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from devenv.operator import wait_for
from devenv.postgres import libpq_url
from tests.integration.test_operator import EXPERIMENT_CONFIG, router_manifest
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
PLUGIN = BIN / "kubectl-turnout"

CONFIG_2 = copy.deepcopy(EXPERIMENT_CONFIG)
CONFIG_2["experiments"].append({"id": "002", "name": "exp_2"})


def turnout(
    h: OperatorHarness, *args: str, kubeconfig: Path | None = None, namespace: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the installed executable as a user would, with a kubeconfig and a namespace."""
    flags = ["--kubeconfig", str(kubeconfig or h.cluster.kubeconfig)]
    if namespace:
        flags += ["-n", h.namespace]
    return subprocess.run([str(PLUGIN), *args, *flags], capture_output=True, text=True, timeout=300)


def mirrors(h: OperatorHarness, router: str = "demo") -> dict[int, dict[str, Any]]:
    listing = h.kubectl_json("get", "routerversions", "-l", f"turnout.dev/router={router}")
    return {item["spec"]["version"]: item for item in (listing or {"items": []})["items"]}


def wait_mirrors(h: OperatorHarness, expected: dict[int, str], router: str = "demo") -> None:
    """Until the mirrors are exactly these versions with these statuses."""

    def check() -> dict[int, dict[str, Any]] | None:
        found = mirrors(h, router)
        return found if {n: m["spec"]["status"] for n, m in found.items()} == expected else None

    wait_for(check, 120, f"RouterVersions {expected}", h.operator)


def row_times(h: OperatorHarness, router: str) -> dict[int, tuple[str, str]]:
    """createdAt/updatedAt of each version as Postgres holds them, to the second, UTC."""
    with psycopg.connect(libpq_url(h.database_url)) as conn:
        rows = conn.execute(
            """
            select v.number,
                   to_char(v.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   to_char(v.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            from router_versions v join routers r on r.id = v.router_id
            where r.namespace = %s and r.name = %s
            """,
            (h.namespace, router),
        ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def without_age(table: str) -> list[list[str]]:
    """The table's cells without the AGE column (it moves between two runs)."""
    lines = table.splitlines()
    start, end = lines[0].index("AGE"), lines[0].index("CHANGE")
    return [(line[:start] + line[end:]).split() for line in lines]


def two_versions(h: OperatorHarness) -> None:
    """demo at version 1, then version 2 (a second experiment) deployed."""
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    h.patch_spec("demo", {"experimentEngine": {"config": CONFIG_2}})
    h.wait_deployed("demo", 2)
    wait_mirrors(h, {1: "undeployed", 2: "deployed"})


def test_each_version_row_is_mirrored_as_a_routerversion(operators: OperatorHarness) -> None:
    h = operators
    h.start()
    two_versions(h)
    rows = {row["number"]: row for row in h.version_rows("demo")}
    times = row_times(h, "demo")
    router = h.router("demo")
    for number, mirror in mirrors(h).items():
        row = rows[number]
        spec = mirror["spec"]
        assert mirror["metadata"]["name"] == f"demo-v{number}"
        assert mirror["metadata"]["labels"]["turnout.dev/router"] == "demo"
        (owner,) = mirror["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Router",
            "demo",
            router["metadata"]["uid"],
        )
        assert spec["router"] == "demo"
        assert spec["status"] == row["status"]
        assert spec["routerSpec"] == row["spec"]
        assert (spec["createdAt"], spec["updatedAt"]) == times[number]
        engine = row["experiment_engine"]
        assert spec["experimentEngine"] == {
            "type": "hardcoded",
            "pluginImage": "example.org/turnout/plugin:dev",
            # The binary that validated the version, read here from the file itself.
            "pluginSha256": hashlib.sha256(h.python_plugin.read_bytes()).hexdigest(),
            "config": engine["config"],
            "runnerConfig": engine["runnerConfig"],
        }
    assert mirrors(h)[1]["spec"]["change"] == "first version"
    assert mirrors(h)[2]["spec"]["change"] == "experimentEngine.config changed"

    # The printer columns a user sees.
    table = h.cluster.kubectl("get", "routerversions", "-n", h.namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "ROUTER", "VERSION", "STATUS", "ENGINE", "AGE"]
    assert [line.split()[:5] for line in table[1:]] == [
        ["demo-v1", "demo", "1", "undeployed", "hardcoded"],
        ["demo-v2", "demo", "2", "deployed", "hardcoded"],
    ]

    # Garbage-collected with the Router.
    h.cluster.kubectl("delete", "router", "demo", "-n", h.namespace, "--wait=true")
    wait_for(lambda: not mirrors(h), 120, "RouterVersions garbage-collected")


def test_a_deleted_or_edited_mirror_is_restored_from_the_database(
    operators: OperatorHarness,
) -> None:
    h = operators
    # No periodic resync during the test: only the watch event can bring a mirror back.
    h.start(env={"TURNOUT_RESYNC_SECONDS": "3600"})
    two_versions(h)
    original = mirrors(h)[1]["spec"]

    h.cluster.kubectl("delete", "routerversion", "demo-v1", "-n", h.namespace)
    wait_for(lambda: mirrors(h).get(1), 60, "demo-v1 back", h.operator)
    assert mirrors(h)[1]["spec"] == original

    h.cluster.kubectl(
        "patch",
        "routerversion",
        "demo-v1",
        "-n",
        h.namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"status": "deployed", "routerSpec": {"replicas": 9}}}),
    )

    def restored() -> bool:
        return mirrors(h)[1]["spec"] == original

    wait_for(restored, 60, "demo-v1 restored after an edit", h.operator)


def test_only_the_newest_k_versions_are_mirrored(operators: OperatorHarness) -> None:
    h = operators
    h.start(env={"TURNOUT_VERSION_MIRROR_LIMIT": "2"})
    two_versions(h)
    config_3 = copy.deepcopy(CONFIG_2)
    config_3["experiments"].append({"id": "003", "name": "exp_3"})
    h.patch_spec("demo", {"experimentEngine": {"config": config_3}})
    h.wait_deployed("demo", 3)
    wait_mirrors(h, {2: "undeployed", 3: "deployed"})
    assert [row["number"] for row in h.version_rows("demo")] == [1, 2, 3]
    # The oldest mirrored version still says what changed from the one before it.
    assert mirrors(h)[2]["spec"]["change"] == "experimentEngine.config changed"


def test_versions_table_newest_first_with_the_deployed_one_marked(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    two_versions(h)
    result = turnout(h, "versions", "demo")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["DEPLOYED", "VERSION", "STATUS", "ENGINE", "AGE", "CHANGE"]
    assert lines[1].split()[:4] == ["*", "2", "deployed", "hardcoded"]
    assert lines[1].endswith("experimentEngine.config changed")
    assert lines[2].split()[:3] == ["1", "undeployed", "hardcoded"]
    assert lines[2].endswith("first version")

    listed = json.loads(turnout(h, "versions", "demo", "-o", "json").stdout)
    assert [item["spec"]["version"] for item in listed["items"]] == [2, 1]
    assert yaml.safe_load(turnout(h, "versions", "demo", "-o", "yaml").stdout) == listed

    # Through kubectl's own plugin discovery, with the venv's bin on PATH.
    env = {**h.cluster.tool_env(), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    via_kubectl = subprocess.run(
        [str(h.cluster.binaries.kubectl), "turnout", "versions", "demo", "-n", h.namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert via_kubectl.returncode == 0, via_kubectl.stderr
    assert via_kubectl.stdout.splitlines()[1].split()[:2] == ["*", "2"]

    # The context's namespace is the default, as for kubectl.
    kubeconfig = yaml.safe_load(h.cluster.kubeconfig.read_text())
    kubeconfig["contexts"][0]["context"]["namespace"] = h.namespace
    with_namespace = h.workdir / "kubeconfig-ns"
    with_namespace.write_text(yaml.safe_dump(kubeconfig))
    defaulted = turnout(h, "versions", "demo", kubeconfig=with_namespace, namespace=False)
    assert defaulted.returncode == 0, defaulted.stderr
    assert without_age(defaulted.stdout) == without_age(result.stdout)

    # --context picks a context other than the current one; an unreachable server is exit 1.
    kubeconfig["clusters"].append({"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}})
    kubeconfig["contexts"].append(
        {"name": "nowhere", "context": {"cluster": "nowhere", "user": "turnout-admin"}}
    )
    good = kubeconfig["current-context"]
    kubeconfig["current-context"] = "nowhere"
    two_contexts = h.workdir / "kubeconfig-two"
    two_contexts.write_text(yaml.safe_dump(kubeconfig))
    chosen = turnout(
        h, "versions", "demo", "--context", good, kubeconfig=two_contexts, namespace=False
    )
    assert chosen.returncode == 0, chosen.stderr
    assert without_age(chosen.stdout) == without_age(result.stdout)
    unreachable = turnout(h, "versions", "demo", kubeconfig=two_contexts)
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("error: cannot reach the API server")


def test_diff_shows_what_changed_between_versions(operators: OperatorHarness) -> None:
    h = operators
    h.start()
    two_versions(h)
    result = turnout(h, "diff", "demo", "1", "2")
    assert result.returncode == 0, result.stderr
    added = [line for line in result.stdout.splitlines() if line.startswith("+")]
    removed = [line for line in result.stdout.splitlines() if line.startswith("-")]
    assert added[0] == "+++ demo v2" and removed[0] == "--- demo v1"
    # exp_2 is new in the spec and in the runner config the engine returned for it.
    assert sum("name: exp_2" in line for line in added) == 2
    assert not any("exp_1" in line for line in added + removed)

    assert turnout(h, "diff", "demo", "1", "2", "--exit-code").returncode == 1
    same = turnout(h, "diff", "demo", "2", "--exit-code")  # v2 against the current spec
    assert (same.returncode, same.stdout) == (0, "")
    missing = turnout(h, "diff", "demo", "1", "7")
    assert missing.returncode == 3
    assert "no mirrored version 7" in missing.stderr


def test_rollback_redeploys_the_previous_version_under_its_own_number(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    two_versions(h)

    result = turnout(h, "rollback", "demo", "--timeout", "120s")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "router.turnout.dev/demo rolled back to version 1\n"
    assert "demo: Deployed at version 1" in result.stderr.splitlines()
    status = h.status("demo")
    assert (status["phase"], status["deployedVersion"], status["currentVersion"]) == (
        "Deployed",
        1,
        1,
    )
    assert h.router("demo")["spec"]["experimentEngine"]["config"] == EXPERIMENT_CONFIG
    # The same row, not a new version.
    assert [(r["number"], r["status"]) for r in h.version_rows("demo")] == [
        (1, "deployed"),
        (2, "undeployed"),
    ]
    managed = h.kubectl_json("get", "router", "demo", "--show-managed-fields")
    managers = {m["manager"] for m in managed["metadata"]["managedFields"]}
    assert "kubectl-turnout" in managers

    # And forward again, by number.
    forward = turnout(h, "rollback", "demo", "--to", "2")
    assert forward.returncode == 0, forward.stderr
    h.wait_deployed("demo", 2)
    assert len(h.version_rows("demo")) == 2


def test_rollback_removes_fields_the_old_version_did_not_have(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    # Version 2 adds a field version 1 lacks; it is owned by kubectl, not by the plugin.
    # The scale is set with it: it is no part of a version, and a rollback keeps it.
    resources = {"requests": {"cpu": "50m"}}
    h.patch_spec(
        "demo", {"replicas": 2, "resources": resources, "experimentEngine": {"config": CONFIG_2}}
    )
    h.wait_deployed("demo", 2)
    assert "resources" not in h.version_rows("demo")[0]["spec"]
    assert "replicas" not in h.version_rows("demo")[1]["spec"]
    result = turnout(h, "rollback", "demo", "--to", "1")
    assert result.returncode == 0, result.stderr
    spec = h.router("demo")["spec"]
    assert "resources" not in spec
    assert spec["replicas"] == 2
    assert spec["experimentEngine"]["config"] == EXPERIMENT_CONFIG
    assert [(r["number"], r["status"]) for r in h.version_rows("demo")] == [
        (1, "deployed"),
        (2, "undeployed"),
    ]


def service_account_kubeconfig(h: OperatorHarness, verbs: list[str]) -> Path:
    """A kubeconfig for a ServiceAccount that may only `verbs` Routers and RouterVersions."""
    ns = h.namespace
    h.cluster.kubectl("create", "serviceaccount", "viewer", "-n", ns)
    h.cluster.kubectl(
        "create",
        "role",
        "turnout-viewer",
        "-n",
        ns,
        f"--verb={','.join(verbs)}",
        "--resource=routers.turnout.dev,routerversions.turnout.dev",
    )
    h.cluster.kubectl(
        "create",
        "rolebinding",
        "turnout-viewer",
        "-n",
        ns,
        "--role=turnout-viewer",
        f"--serviceaccount={ns}:viewer",
    )
    token = h.cluster.kubectl("create", "token", "viewer", "-n", ns).stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "test",
                "cluster": {
                    "server": h.cluster.server,
                    "certificate-authority": str(h.cluster.pki.ca_cert),
                },
            }
        ],
        "users": [{"name": "viewer", "user": {"token": token}}],
        "contexts": [
            {"name": "viewer", "context": {"cluster": "test", "user": "viewer", "namespace": ns}}
        ],
        "current-context": "viewer",
    }
    path = h.workdir / "viewer-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_rollback_is_refused_to_a_user_who_may_not_patch_the_router(
    operators: OperatorHarness,
) -> None:
    h = operators
    h.start()
    two_versions(h)
    viewer = service_account_kubeconfig(h, ["get", "list", "watch"])

    listed = turnout(h, "versions", "demo", kubeconfig=viewer, namespace=False)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:2] == ["*", "2"]

    refused = turnout(h, "rollback", "demo", kubeconfig=viewer, namespace=False)
    assert refused.returncode == 3
    assert refused.stderr == (
        f'error: routers.turnout.dev "demo" is forbidden: User "system:serviceaccount:{h.namespace}'
        ':viewer" cannot patch resource "routers" in API group "turnout.dev" in the namespace '
        f'"{h.namespace}"\n'
    )
    assert h.status("demo")["deployedVersion"] == 2
    assert h.router("demo")["spec"]["experimentEngine"]["config"] == CONFIG_2


def test_exit_codes_for_scripts(operators: OperatorHarness) -> None:
    h = operators
    assert turnout(h, "versions", "nosuch").returncode == 3
    assert 'router "nosuch" not found' in turnout(h, "versions", "nosuch").stderr
    assert turnout(h, "versions").returncode == 2
    assert turnout(h, "rollback", "demo", "--to", "zero").returncode == 2
    assert turnout(h, "frobnicate").returncode == 2
    help_text = subprocess.run([str(PLUGIN), "rollback", "--help"], capture_output=True, text=True)
    assert (
        help_text.returncode == 0 and "kubectl turnout rollback checkout --to 2" in help_text.stdout
    )

    # No operator running: the rollback is written but never completes.
    h.apply(router_manifest())
    h.start()
    h.wait_deployed("demo", 1)
    h.patch_spec("demo", {"experimentEngine": {"config": CONFIG_2}})
    h.wait_deployed("demo", 2)
    wait_mirrors(h, {1: "undeployed", 2: "deployed"})
    h.operator.stop()
    timed_out = turnout(h, "rollback", "demo", "--timeout", "2s")
    assert timed_out.returncode == 1
    assert "timed out after 2s waiting for version 1" in timed_out.stderr


ENGINE_CRD_FILE = Path(__file__).resolve().parents[2] / "crds/experimentengines.turnout.dev.yaml"
STAND_IN_ENGINE_CRD: dict[str, Any] = {
    # The contract's shape, for as long as the operator's own CRD is not in this tree.
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "experimentengines.turnout.dev"},
    "spec": {
        "group": "turnout.dev",
        "scope": "Cluster",
        "names": {
            "kind": "ExperimentEngine",
            "listKind": "ExperimentEngineList",
            "plural": "experimentengines",
            "singular": "experimentengine",
        },
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                },
            }
        ],
    },
}


def engine_status(client: str) -> dict[str, Any]:
    return {
        "engineInfo": {"name": "hardcoded", "displayName": "Hardcoded", "type": "standard"},
        "pluginImage": "example.org/turnout/plugin:dev",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "PluginRunning",
                "message": "running",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "lastPing": "2026-01-01T00:00:00Z",
        "restarts": 0,
        "clients": [{"id": client, "username": "alice"}, {"id": "9", "username": "bob"}],
        "experiments": [
            {
                "id": "001",
                "name": "exp_1",
                "clientId": client,
                "variants": [{"name": "control"}, {"name": "treatment-1"}],
            },
            {"id": "002", "name": "exp_2", "clientId": "9", "variants": [{"name": "a"}]},
        ],
        "variables": {
            "experiment": {"001": [{"name": "client_id", "required": True, "type": "unit"}]}
        },
        "truncated": False,
        "refreshedAt": "2026-01-01T00:00:00Z",
    }


def test_engines_and_experiments_come_from_the_experimentengine_objects(
    operators: OperatorHarness,
) -> None:
    h = operators
    if ENGINE_CRD_FILE.exists():
        h.cluster.kubectl("apply", "--server-side", "-f", str(ENGINE_CRD_FILE))
    else:
        h.cluster.kubectl(
            "apply", "--server-side", "-f", "-", input=json.dumps(STAND_IN_ENGINE_CRD)
        )
    h.cluster.kubectl("wait", "--for=condition=Established", "crd/experimentengines.turnout.dev")
    name = f"xe-{h.namespace}"[:63]
    h.cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "turnout.dev/v1alpha1",
                "kind": "ExperimentEngine",
                "metadata": {"name": name},
            }
        ),
    )
    try:
        h.cluster.kubectl(
            "patch",
            "experimentengine",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": engine_status("1")}),
        )
        engines = turnout(h, "engines", namespace=False)
        assert engines.returncode == 0, engines.stderr
        header, *rows = engines.stdout.splitlines()
        assert header.split() == [
            "NAME",
            "TYPE",
            "READY",
            "EXPERIMENTS",
            "CLIENTS",
            "LAST",
            "PING",
            "AGE",
        ]
        (row,) = [r.split() for r in rows if r.startswith(name + " ")]
        assert row[1:5] == ["standard", "True", "2", "2"]

        listed = json.loads(turnout(h, "engines", "-o", "json", namespace=False).stdout)
        (mine,) = [i for i in listed["items"] if i["metadata"]["name"] == name]
        assert mine["status"]["clients"] == [
            {"id": "1", "username": "alice"},
            {"id": "9", "username": "bob"},
        ]

        experiments = turnout(h, "experiments", name, "--client", "1", namespace=False)
        assert experiments.returncode == 0, experiments.stderr
        assert [line.split() for line in experiments.stdout.splitlines()] == [
            ["ID", "NAME", "CLIENT", "VARIANTS", "VARIABLES"],
            ["001", "exp_1", "1", "control,treatment-1", "client_id"],
        ]
        every = json.loads(turnout(h, "experiments", name, "-o", "json", namespace=False).stdout)
        assert [e["id"] for e in every] == ["001", "002"]

        clients = turnout(h, "clients", name, namespace=False)
        assert [line.split() for line in clients.stdout.splitlines()] == [
            ["ID", "USERNAME", "EXPERIMENTS"],
            ["1", "alice", "1"],
            ["9", "bob", "1"],
        ]
        missing = turnout(h, "experiments", "no-such-engine", namespace=False)
        assert missing.returncode == 3
        assert 'experiment engine "no-such-engine" not found' in missing.stderr
    finally:
        h.cluster.kubectl("delete", "experimentengine", name, check=False)


def test_a_new_binary_behind_the_same_image_makes_a_version_it_validated(
    operators: OperatorHarness, tmp_path: Path
) -> None:
    h = operators
    first = h.start()
    h.apply(router_manifest())
    h.wait_deployed("demo", 1)
    first.stop()
    # The same engine and image reference; another binary (a zipapp runs with any
    # first line, so a changed interpreter line makes a working, different file).
    original = h.python_plugin.read_bytes()
    shebang, rest = original.split(b"\n", 1)
    moved = tmp_path / "hardcoded"
    moved.write_bytes(shebang + b" \n" + rest)
    moved.chmod(0o755)
    h.start(dataclasses.replace(h.python_engine(), binary=moved), workdir=h.workdir / "second")
    h.wait_deployed("demo", 2)
    rows = {row["number"]: row for row in h.version_rows("demo")}
    assert rows[1]["experiment_engine"]["pluginSha256"] == hashlib.sha256(original).hexdigest()
    assert (
        rows[2]["experiment_engine"]["pluginSha256"]
        == hashlib.sha256(moved.read_bytes()).hexdigest()
    )
    assert (
        rows[1]["experiment_engine"]["pluginImage"] == rows[2]["experiment_engine"]["pluginImage"]
    )
    assert rows[1]["spec"] == rows[2]["spec"]
    wait_mirrors(h, {1: "undeployed", 2: "deployed"})
    assert mirrors(h)[2]["spec"]["change"].startswith("plugin binary behind ")
