"""`helm install`, `upgrade` and `uninstall` of the chart into the test control plane.

The release goes into a namespace that enforces Pod Security "restricted", so every
pod the chart makes (the operator, its plugin initContainers, the migration hook)
must pass it to exist at all. The operator's pod rolls out on kwok's fake nodes
(nothing runs in it); then the operator runs here as a process under the chart's
ServiceAccount identity (a token from the TokenRequest API) with the engines file
the chart rendered, and reconciles a Router to Deployed: the chart's RBAC is
enough. `kubectl auth can-i` shows what that identity must not be able to do.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devenv.cluster import FAKE_NODE_NAMES, Cluster, wait_for_default_service_account
from devenv.operator import Engine, OperatorConfig, log_records, start_operator, wait_for
from devenv.procs import ProcessRegistry
from tests.substrate.chart import CHART_DIR, write_values
from tests.substrate.operator_fixtures import ENGINE_OPTIONS, OperatorHarness

pytestmark = pytest.mark.cluster

REPO_ROOT = Path(__file__).resolve().parents[2]
RELEASE = "turnout"
FULLNAME = "turnout"  # the release name already says "turnout"
SERVICE_ACCOUNT = FULLNAME
PASSKEY = f"passkey-{secrets.token_hex(8)}"
OPTIONS = {**ENGINE_OPTIONS, "clients": [{"id": "1", "username": "client_1", "passkey": PASSKEY}]}
PYTHON_ENGINE = {
    "name": "hardcoded",
    "type": "rpc-plugin",
    "rpcPlugin": {"image": "registry.example/hardcoded-plugin:0.1.0"},
    "options": OPTIONS,
}
GO_ENGINE = {
    "name": "turing",
    "type": "rpc-plugin",
    "rpcPlugin": {"image": "registry.example/turing-hardcoded-plugin:0.1.0"},
    "options": {"engine": {"name": "turing"}},
}
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"


@dataclass
class Release:
    cluster: Cluster
    namespace: str
    workdir: Path
    install_output: str
    install_warnings: str

    def values(self, engines: list[dict[str, Any]]) -> Path:
        return write_values(
            self.workdir / f"values-{len(engines)}.json",
            {
                "image": {"repository": "registry.example/turnout"},
                "database": {"existingSecret": {"name": "turnout-db"}},
                "experimentEngines": copy.deepcopy(engines),
            },
        )

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.cluster.kubectl(*args, "-n", self.namespace, "-o", "json").stdout)

    def can_i(self, verb: str, resource: str, namespace: str | None = None) -> bool:
        """`kubectl auth can-i` for the chart's ServiceAccount (namespace None: all of them).

        ``resource`` is `plural[.group][/subresource]`; kinds whose CRD is not installed
        yet are asked by name through a SubjectAccessReview, which needs no discovery.
        """
        user = f"system:serviceaccount:{self.namespace}:{SERVICE_ACCOUNT}"
        plural_group, _, subresource = resource.partition("/")
        plural, _, group = plural_group.partition(".")
        attributes = {"verb": verb, "resource": plural, "group": group}
        if subresource:
            attributes["subresource"] = subresource
        if namespace is not None:
            attributes["namespace"] = namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{self.namespace}",
                    "system:authenticated",
                ],
                "resourceAttributes": attributes,
            },
        }
        answer = self.cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(review))
        sar = json.loads(answer.stdout)["status"]
        # kubectl auth can-i says the same for kinds the API server knows.
        args = [verb, resource, *(["-n", namespace] if namespace else ["-A"])]
        if not group or group in (
            "apps",
            "coordination.k8s.io",
            "apiextensions.k8s.io",
            "rbac.authorization.k8s.io",
        ):
            cli = self.cluster.kubectl("auth", "can-i", *args, f"--as={user}", check=False)
            assert cli.stdout.strip() == ("yes" if sar.get("allowed") else "no"), cli.stderr
        return bool(sar.get("allowed"))


def create_restricted_namespace(cluster: Cluster) -> str:
    name = f"t-helm-{secrets.token_hex(3)}"
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {
                        "turnout.dev/test": "true",
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                },
            }
        ),
    )
    wait_for_default_service_account(cluster, name)
    return name


@pytest.fixture(scope="module")
def release(
    cluster: Cluster, migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    namespace = create_restricted_namespace(cluster)
    workdir = tmp_path_factory.mktemp("helm-release")
    # The database URL comes from a Secret the platform team made, as for any real install.
    cluster.kubectl(
        "create",
        "secret",
        "generic",
        "turnout-db",
        "-n",
        namespace,
        f"--from-literal=url={migrated_database}",
    )
    draft = Release(cluster, namespace, workdir, "", "")
    result = cluster.helm(
        "install",
        RELEASE,
        str(CHART_DIR),
        "-n",
        namespace,
        "-f",
        str(draft.values([PYTHON_ENGINE])),
        "--wait",
        "--timeout",
        "180s",
    )
    try:
        yield Release(cluster, namespace, workdir, result.stdout, result.stderr)
    finally:
        cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_the_namespace_really_enforces_restricted(release: Release) -> None:
    # A check that the check works: the API server refuses a pod that is not restricted.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "not-restricted"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    result = release.cluster.kubectl(
        "apply", "-n", release.namespace, "-f", "-", input=json.dumps(pod), check=False
    )
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr


def test_the_api_server_had_no_pod_security_warning_for_the_chart(release: Release) -> None:
    # A pod that breaks "restricted" is refused, so the install would not finish; the
    # API server also warns about the Deployment and Job that would make such pods.
    assert "PodSecurity" not in release.install_warnings, release.install_warnings


def test_the_operator_rolls_out_on_the_fake_nodes(release: Release) -> None:
    deployment = release.kubectl_json("get", "deployment", FULLNAME)
    assert deployment["status"].get("availableReplicas") == 1
    pods = release.kubectl_json(
        "get", "pods", "-l", f"{INSTANCE},app.kubernetes.io/component=operator"
    )["items"]
    assert len(pods) == 1
    [pod] = pods
    assert pod["spec"]["nodeName"] in FAKE_NODE_NAMES
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["hardcoded-plugin"]
    assert pod["spec"]["serviceAccountName"] == SERVICE_ACCOUNT


def test_the_migration_hook_job_ran_before_the_operator(release: Release) -> None:
    events = release.kubectl_json(
        "get",
        "events",
        "--field-selector",
        f"involvedObject.kind=Job,involvedObject.name={FULLNAME}-migrate",
    )["items"]
    reasons = {event["reason"] for event in events}
    assert {"SuccessfulCreate", "Completed"} <= reasons, reasons
    # Deleted once it succeeded (hook-delete-policy), so nothing is left to clean up.
    jobs = release.kubectl_json("get", "jobs")["items"]
    assert jobs == []
    hooks = release.cluster.helm("get", "hooks", RELEASE, "-n", release.namespace).stdout
    assert "python, -m, turnout_operator, db, upgrade" in hooks


def test_notes_say_what_next_and_never_show_options(release: Release) -> None:
    notes = release.cluster.helm("get", "notes", RELEASE, "-n", release.namespace).stdout
    assert f"kubectl -n {release.namespace} rollout status deployment/{FULLNAME}" in notes
    assert "Experiment engines: hardcoded, and the built-in nop." in notes
    assert f"It reconciles Routers in: {release.namespace}" in notes
    assert "keeps the CRDs" in notes and "versions database" in notes
    assert PASSKEY not in notes and PASSKEY not in release.install_output
    # Options live in the engines Secret only: no ConfigMap or pod spec holds them.
    configmaps = release.kubectl_json("get", "configmaps")
    deployments = release.kubectl_json("get", "deployments")
    assert PASSKEY not in json.dumps(configmaps) + json.dumps(deployments)
    secret = release.kubectl_json("get", "secret", f"{FULLNAME}-engines")
    assert PASSKEY in base64.b64decode(secret["data"]["engines.json"]).decode()


def write_token_kubeconfig(cluster: Cluster, namespace: str, path: Path) -> Path:
    """A kubeconfig for the chart's ServiceAccount: a token from the TokenRequest API."""
    token = cluster.kubectl(
        "create", "token", SERVICE_ACCOUNT, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "test",
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority-data": base64.b64encode(
                        cluster.pki.ca_cert.read_bytes()
                    ).decode(),
                },
            }
        ],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": SERVICE_ACCOUNT}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def test_the_operator_under_the_charts_service_account_deploys_a_router(
    release: Release, migrated_database: str, python_plugin: Path
) -> None:
    cluster, namespace = release.cluster, release.namespace
    workdir = release.workdir / "operator"
    workdir.mkdir()
    kubeconfig = write_token_kubeconfig(cluster, namespace, workdir / "kubeconfig")
    whoami = subprocess.run(
        [str(cluster.binaries.kubectl), "auth", "whoami", "-o", "json"],
        env={**cluster.tool_env(), "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"
    )
    # The engines file exactly as the chart rendered it into its Secret.
    secret = release.kubectl_json("get", "secret", f"{FULLNAME}-engines")
    engines_file = workdir / "engines.json"
    engines_file.write_bytes(base64.b64decode(secret["data"]["engines.json"]))
    # The operator's settings as the chart sets them, but for what only a pod has.
    deployment = release.kubectl_json("get", "deployment", FULLNAME)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    chart_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env = {
        "TURNOUT_ENGINES_FILE": str(engines_file),
        "TURNOUT_NAMESPACES": chart_env["TURNOUT_NAMESPACES"],
        "TURNOUT_LEADER_ELECTION": chart_env["TURNOUT_LEADER_ELECTION"],
        "TURNOUT_LEASE_NAME": chart_env["TURNOUT_LEASE_NAME"],
        "TURNOUT_LEASE_NAMESPACE": namespace,  # the pod's POD_NAMESPACE
        "TURNOUT_ROUTER_RESOURCES": chart_env["TURNOUT_ROUTER_RESOURCES"],
        "TURNOUT_ROUTER_IMAGE": chart_env["TURNOUT_ROUTER_IMAGE"],
        # No certificate files or free ports here: the webhook and metrics servers
        # are not what this test is about.
        "TURNOUT_WEBHOOK_PORT": "0",
        "TURNOUT_METRICS_PORT": "0",
        "TURNOUT_RETRY_SECONDS": "1",
    }
    registry = ProcessRegistry()
    harness = OperatorHarness(
        cluster=cluster,
        database_url=migrated_database,
        namespace=namespace,
        workdir=workdir,
        registry=registry,
        python_plugin=python_plugin,
        go_plugin=python_plugin,
    )
    try:
        process = start_operator(
            registry,
            OperatorConfig(
                kubeconfig=kubeconfig,
                database_url=migrated_database,
                workdir=workdir,
                # Copies the plugin where the initContainer would; the chart's file wins.
                engines=(Engine(name="hardcoded", binary=python_plugin, options={}),),
                namespaces=(namespace,),
                extra_env=env,
            ),
        )
        harness.started.append(process)
        router = yaml.safe_load((REPO_ROOT / "examples/routers/sample-router.yaml").read_text())
        router["spec"]["replicas"] = 1
        harness.apply(router)
        status = harness.wait_deployed("sample", 1)
        assert status["endpoint"].startswith(f"http://sample-router.{namespace}.svc")
        deployment = harness.kubectl_json("get", "deployment", "sample-router")
        [router_container] = deployment["spec"]["template"]["spec"]["containers"]
        # The chart's router defaults reached the router pods.
        assert router_container["image"] == "registry.example/turnout:0.1.0"
        assert router_container["resources"] == {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        }
        # Not one request was refused: the chart's RBAC covers everything it did.
        log = (workdir / "operator.log").read_text()
        for refusal in ("Forbidden", "forbidden", "Not enough permissions"):
            assert refusal not in log, [line for line in log.splitlines() if refusal in line]
        assert PASSKEY not in log
        assert log_records(workdir / "operator.log")
        everything = json.dumps(
            [
                harness.router("sample"),
                harness.events("sample"),
                harness.kubectl_json("get", "configmaps"),
                harness.kubectl_json("get", "deployments"),
            ]
        )
        assert PASSKEY not in everything
        harness.cluster.kubectl("delete", "router", "sample", "-n", namespace, "--timeout=120s")
    finally:
        registry.stop_all()


def parse(args: tuple[str, ...], namespace: str) -> tuple[str, str, str | None]:
    """(verb, resource, namespace or None) from kubectl-style arguments."""
    verb, resource, *rest = args
    if rest[:1] == ["-n"]:
        return verb, resource, rest[1].replace("{ns}", namespace)
    return verb, resource, None


@pytest.mark.parametrize(
    "args",
    [
        ("get", "secrets", "-A"),
        ("list", "secrets", "-n", "{ns}"),
        ("get", "secrets/turnout-db", "-n", "{ns}"),
        ("create", "pods", "-n", "{ns}"),
        ("create", "pods/exec", "-n", "{ns}"),
        ("get", "pods/log", "-n", "{ns}"),
        ("watch", "pods", "-n", "{ns}"),
        ("create", "deployments.apps", "-n", "default"),
        ("patch", "routers.turnout.dev", "-n", "default"),
        ("list", "configmaps", "-A"),
        ("update", "leases.coordination.k8s.io", "-n", "default"),
        ("delete", "namespaces"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("escalate", "roles.rbac.authorization.k8s.io", "-n", "{ns}"),
        ("create", "serviceaccounts/token", "-n", "{ns}"),
    ],
    ids=lambda args: " ".join(args).replace("{ns}", "NS"),
)
def test_the_service_account_lacks_what_it_does_not_need(
    release: Release, args: tuple[str, ...]
) -> None:
    assert not release.can_i(*parse(args, release.namespace))


@pytest.mark.parametrize(
    "args",
    [
        ("patch", "routers.turnout.dev", "-n", "{ns}"),
        ("patch", "routers.turnout.dev/status", "-n", "{ns}"),
        # Not for a finalizer (Routers carry none): blockOwnerDeletion in the children's
        # ownerReferences needs it where OwnerReferencesPermissionEnforcement is enabled.
        ("update", "routers.turnout.dev/finalizers", "-n", "{ns}"),
        ("create", "routerversions.turnout.dev", "-n", "{ns}"),
        ("create", "deployments.apps", "-n", "{ns}"),
        ("delete", "configmaps", "-n", "{ns}"),
        ("create", "events", "-n", "{ns}"),
        # A rollout's new pods say at once when they can never start.
        ("list", "pods", "-n", "{ns}"),
        ("create", "experimentengines.turnout.dev"),
        ("patch", "experimentengines.turnout.dev/status"),
        ("update", "leases.coordination.k8s.io", "-n", "{ns}"),
    ],
    ids=lambda args: " ".join(args).replace("{ns}", "NS"),
)
def test_the_service_account_has_what_the_operator_needs(
    release: Release, args: tuple[str, ...]
) -> None:
    # The other side of the check above: can-i answers yes where the chart grants.
    assert release.can_i(*parse(args, release.namespace))


def test_upgrade_with_another_engine_list_updates_the_init_containers(release: Release) -> None:
    before = release.kubectl_json("get", "deployment", FULLNAME)
    result = release.cluster.helm(
        "upgrade",
        RELEASE,
        str(CHART_DIR),
        "-n",
        release.namespace,
        "-f",
        str(release.values([PYTHON_ENGINE, GO_ENGINE])),
        "--wait",
        "--timeout",
        "180s",
    )
    assert PASSKEY not in result.stdout
    after = release.kubectl_json("get", "deployment", FULLNAME)
    inits = after["spec"]["template"]["spec"]["initContainers"]
    assert [(c["name"], c["image"]) for c in inits] == [
        ("hardcoded-plugin", "registry.example/hardcoded-plugin:0.1.0"),
        ("turing-plugin", "registry.example/turing-hardcoded-plugin:0.1.0"),
    ]
    annotation = "checksum/engines"
    assert (
        after["spec"]["template"]["metadata"]["annotations"][annotation]
        != before["spec"]["template"]["metadata"]["annotations"][annotation]
    )
    assert after["status"].get("updatedReplicas") == 1

    def init_containers_per_pod() -> list[int] | None:
        pods = release.kubectl_json(
            "get", "pods", "-l", f"{INSTANCE},app.kubernetes.io/component=operator"
        )["items"]
        running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        counts = [len(p["spec"]["initContainers"]) for p in running]
        return counts if counts == [2] else None

    # helm's --wait ends when the new pod is ready; the old one goes right after.
    wait_for(init_containers_per_pod, 60, "only the new operator pod, with two plugins")
    secret = release.kubectl_json("get", "secret", f"{FULLNAME}-engines")
    names = [e["name"] for e in json.loads(base64.b64decode(secret["data"]["engines.json"]))]
    assert names == ["hardcoded", "turing"]
    history = json.loads(
        release.cluster.helm("history", RELEASE, "-n", release.namespace, "-o", "json").stdout
    )
    assert [h["status"] for h in history] == ["superseded", "deployed"]


def test_the_webhook_certificate_survives_an_upgrade(release: Release) -> None:
    def ca() -> str:
        secret = release.kubectl_json("get", "secret", f"{FULLNAME}-webhook-cert")
        bundle = release.cluster.kubectl(
            "get",
            "validatingwebhookconfiguration",
            f"{FULLNAME}-{release.namespace}",
            "-o",
            "jsonpath={.webhooks[0].clientConfig.caBundle}",
        ).stdout
        assert bundle == secret["data"]["ca.crt"]
        return bundle

    first = ca()
    release.cluster.helm(
        "upgrade",
        RELEASE,
        str(CHART_DIR),
        "-n",
        release.namespace,
        "--reuse-values",
        "--set",
        "webhook.timeoutSeconds=5",
        "--wait",
        "--timeout",
        "180s",
    )
    assert ca() == first


def test_uninstall_leaves_no_operator_objects_and_keeps_crds_and_the_database_secret(
    release: Release,
) -> None:
    cluster, namespace = release.cluster, release.namespace
    cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "120s")

    def left() -> list[str]:
        found = []
        for kinds, scope in (
            (
                "deployments,replicasets,pods,services,secrets,configmaps,serviceaccounts,"
                "roles,rolebindings,poddisruptionbudgets,jobs",
                ["-n", namespace],
            ),
            ("clusterroles,clusterrolebindings,validatingwebhookconfigurations", []),
        ):
            out = cluster.kubectl("get", kinds, *scope, "-l", INSTANCE, "-o", "name").stdout
            found += [
                line
                for line in out.splitlines()
                # Pods of the operator go away on their own after the Deployment.
                if line and not line.startswith("pod/")
            ]
        return found

    wait_for(lambda: not left(), 60, "no objects of the release left")
    assert left() == []
    names = cluster.kubectl("get", "secrets", "-n", namespace, "-o", "name").stdout.split()
    assert names == ["secret/turnout-db"]  # the user's own Secret is theirs
    crds = cluster.kubectl("get", "crd", "-o", "name").stdout.split()
    assert "customresourcedefinition.apiextensions.k8s.io/routers.turnout.dev" in crds
