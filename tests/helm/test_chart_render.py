"""The Helm chart as `helm template` and `helm lint` see it (no cluster).

What the chart renders is read back as objects and checked against what the
operator and Kubernetes expect: the engines file is parsed with the operator's own
loader, the settings with the operator's own settings class, the webhook
certificate with a TLS library.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.substrate.chart import CHART_DIR, Rendered, render, run_helm, template, write_values
from turnout_operator.api.engine_config import parse_engines

pytestmark = pytest.mark.packaging

REPO_ROOT = Path(__file__).resolve().parents[2]
RELEASE = "turnout"
NAMESPACE = "turnout-system"
FULLNAME = "turnout"
ENGINE_OPTIONS = json.loads(
    (REPO_ROOT / "examples" / "plugins" / "hardcoded" / "sample_engine_options.json").read_text()
)
PASSKEY = "passkey-that-must-stay-secret-7f3a"
BASE: dict[str, Any] = {"database": {"existingSecret": {"name": "turnout-db"}}}


def values(**overrides: Any) -> dict[str, Any]:
    merged = copy.deepcopy(BASE)
    merged.update(overrides)
    return merged


def engine(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "rpc-plugin", "rpcPlugin": {"image": image}, **extra}


def two_engines() -> list[dict[str, Any]]:
    options = {**ENGINE_OPTIONS, "clients": [{"id": "1", "username": "c1", "passkey": PASSKEY}]}
    return [
        engine("hardcoded", "registry.example/hardcoded-plugin:0.1.0", options=options),
        {
            "name": "turing",
            "rpcPlugin": {"image": "registry.example/turing-plugin:2", "livenessPeriodSeconds": 30},
        },
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "helm"


def operator_pod(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.one("Deployment", FULLNAME)["spec"]["template"]["spec"]
    return spec


def operator_env(rendered: Rendered) -> dict[str, Any]:
    [container] = operator_pod(rendered)["containers"]
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


# --- lint ---


def test_helm_lint_passes_with_the_example_values(home: Path) -> None:
    home.mkdir()
    result = run_helm(
        ["lint", "--strict", str(CHART_DIR), "-f", str(REPO_ROOT / "examples/helm/values.yaml")],
        home,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_the_chart_carries_every_crd_of_the_crds_folder(home: Path) -> None:
    rendered = render(values(), home, extra=["--include-crds"])
    names = {crd["metadata"]["name"] for crd in rendered.all("CustomResourceDefinition")}
    on_disk = {
        yaml.safe_load(path.read_text())["metadata"]["name"]
        for path in (CHART_DIR / "crds").glob("*.yaml")
    }
    assert "routers.turnout.dev" in on_disk
    assert names == on_disk


# --- engines: initContainers and the engines file ---


def test_one_plugin_init_container_per_engine_sharing_the_plugins_volume(home: Path) -> None:
    rendered = render(values(experimentEngines=two_engines()), home)
    pod = operator_pod(rendered)
    inits = pod["initContainers"]
    assert [c["name"] for c in inits] == ["hardcoded-plugin", "turing-plugin"]
    assert [c["image"] for c in inits] == [
        "registry.example/hardcoded-plugin:0.1.0",
        "registry.example/turing-plugin:2",
    ]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["plugins"] == {"name": "plugins", "emptyDir": {}}
    for init, name in zip(inits, ["hardcoded", "turing"], strict=True):
        env = {item["name"]: item["value"] for item in init["env"]}
        assert env == {"PLUGIN_NAME": name, "PLUGINS_DIR": "/app/plugins"}
        assert init["volumeMounts"] == [{"name": "plugins", "mountPath": "/app/plugins"}]
        assert "command" not in init and "args" not in init  # the image's own command copies
    [operator] = pod["containers"]
    mounts = {m["name"]: m for m in operator["volumeMounts"]}
    assert mounts["plugins"]["mountPath"] == "/app/plugins"
    assert operator_env(rendered)["TURNOUT_PLUGINS_DIR"] == "/app/plugins"


def test_no_engines_means_no_init_containers_and_an_empty_engines_file(home: Path) -> None:
    rendered = render(values(), home)
    assert "initContainers" not in operator_pod(rendered)
    assert parse_engines(rendered.secret_data(f"{FULLNAME}-engines")["engines.json"]) == []


def test_the_operator_parses_the_rendered_engines_file(home: Path) -> None:
    engines = two_engines()
    rendered = render(values(experimentEngines=engines), home)
    text = rendered.secret_data(f"{FULLNAME}-engines")["engines.json"]
    parsed = parse_engines(text)
    assert [e.name for e in parsed] == ["hardcoded", "turing"]
    assert [e.rpc_plugin.image for e in parsed] == [
        "registry.example/hardcoded-plugin:0.1.0",
        "registry.example/turing-plugin:2",
    ]
    # Turing's default liveness period when none is given; the given one otherwise.
    assert [e.rpc_plugin.liveness_period_seconds for e in parsed] == [10, 30]
    # Options pass through as JSON, whole (numbers, nesting, strings); none -> {}.
    assert parsed[0].options.reveal() == engines[0]["options"]
    assert parsed[1].options.reveal() == {}
    # The operator mounts that Secret and reads that file.
    env = operator_env(rendered)
    assert env["TURNOUT_ENGINES_FILE"] == "/etc/turnout/engines/engines.json"
    volumes = {v["name"]: v for v in operator_pod(rendered)["volumes"]}
    assert volumes["engines"]["secret"]["secretName"] == f"{FULLNAME}-engines"


def test_engine_options_are_only_in_the_secret(home: Path) -> None:
    result = template(values(experimentEngines=two_engines()), home)
    assert result.returncode == 0, result.stderr
    assert PASSKEY not in result.stdout  # only base64 in the Secret's data
    rendered = Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])
    assert rendered.all("ConfigMap") == []
    assert PASSKEY in rendered.secret_data(f"{FULLNAME}-engines")["engines.json"]
    without_secrets = [obj for obj in rendered.objects if obj["kind"] != "Secret"]
    assert PASSKEY not in json.dumps(without_secrets)
    assert base64.b64encode(PASSKEY.encode()).decode()[:16] not in json.dumps(without_secrets)


def test_a_changed_engine_list_or_option_restarts_the_operator(home: Path) -> None:
    def checksum(engines: list[dict[str, Any]]) -> str:
        deployment = render(values(experimentEngines=engines), home).one("Deployment")
        annotation: str = deployment["spec"]["template"]["metadata"]["annotations"][
            "checksum/engines"
        ]
        return annotation

    engines = two_engines()
    first = checksum(engines)
    assert checksum(engines) == first
    engines[0]["options"]["clients"][0]["passkey"] = "another"
    assert checksum(engines) != first
    assert checksum(engines[:1]) != first


def test_a_turing_engines_list_works_under_turnouts_key(home: Path) -> None:
    turing = yaml.safe_load((Path(__file__).parent / "turing-values.yaml").read_text())
    engines = turing["turing"]["experimentEngines"]
    rendered = render(values(experimentEngines=engines), home)
    parsed = parse_engines(rendered.secret_data(f"{FULLNAME}-engines")["engines.json"])
    assert [e.name for e in parsed] == ["proprietary", "other-engine"]
    assert [e.rpc_plugin.liveness_period_seconds for e in parsed] == [10, 30]  # null -> 10
    assert [e.options.reveal() for e in parsed] == [e["options"] for e in engines]
    assert parsed[0].service_account_key_file_path == (
        "/etc/plugins/proprietary/service-account.json"
    )
    assert [c["name"] for c in operator_pod(rendered)["initContainers"]] == [
        "proprietary-plugin",
        "other-engine-plugin",
    ]


# --- values.schema.json and the chart's own checks ---


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"experimentEngines": [{"name": "a", "rpcPlugin": {}}]}, "missing property 'image'"),
        ({"experimentEngines": [{"name": "a"}]}, "missing property 'rpcPlugin'"),
        (
            {"experimentEngines": [{"name": "a", "type": "standard", "rpcPlugin": {"image": "i"}}]},
            "value must be 'rpc-plugin'",
        ),
        ({"replicaCount": "two"}, "at '/replicaCount': got string, want integer"),
        (
            {
                "experimentEngines": [
                    {"name": "a", "rpcPlugin": {"image": "i", "livenessPeriodSeconds": "10s"}}
                ]
            },
            "livenessPeriodSeconds': got string, want null or integer",
        ),
        (
            {"experimentEngines": [{"name": "nop", "rpcPlugin": {"image": "i"}}]},
            "/experimentEngines/0/name",
        ),
        (
            {"experimentEngines": [{"name": "Bad_Name", "rpcPlugin": {"image": "i"}}]},
            "/experimentEngines/0/name",
        ),
        ({"webhook": {"failurePolicy": "Sometimes"}}, "/webhook/failurePolicy"),
        (
            {
                "experimentEngines": [
                    engine("a", "img-1"),
                    engine("b", "img-2"),
                    engine("a", "img-3"),
                ]
            },
            'the engine name "a" is used more than once',
        ),
        (
            {"database": {}},
            "set database.existingSecret.name (a Secret holding the database URL), or "
            "database.quickstartUrl",
        ),
    ],
    ids=[
        "engine-without-image",
        "engine-without-rpcPlugin",
        "unknown-engine-type",
        "wrong-type",
        "liveness-as-text",
        "reserved-name-nop",
        "bad-engine-name",
        "unknown-failure-policy",
        "duplicate-engine-name",
        "no-database",
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    home: Path, bad: dict[str, Any], message: str
) -> None:
    result = template({**values(), **bad}, home)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_the_schema_accepts_the_example_values(home: Path) -> None:
    example = yaml.safe_load((REPO_ROOT / "examples" / "helm" / "values.yaml").read_text())
    rendered = render(example, home)
    assert len(operator_pod(rendered)["initContainers"]) == 2


# --- security ---


def _restricted_container(container: dict[str, Any]) -> None:
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True, container["name"]
    assert context["allowPrivilegeEscalation"] is False, container["name"]
    assert context["readOnlyRootFilesystem"] is True, container["name"]
    assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}, container["name"]
    assert isinstance(context["runAsUser"], int) and context["runAsUser"] > 0


def test_every_container_passes_pod_security_restricted(home: Path) -> None:
    rendered = render(values(experimentEngines=two_engines()), home)
    pods = [obj["spec"]["template"]["spec"] for obj in rendered.all("Deployment")]
    pods += [obj["spec"]["template"]["spec"] for obj in rendered.all("Job")]
    assert len(pods) == 2
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod.get("initContainers", []) + pod["containers"]:
            _restricted_container(container)
            # A read-only root: the only writable places are emptyDirs (sockets in /tmp).
            volumes = {v["name"]: v for v in pod["volumes"]}
            writable = [
                m for m in container.get("volumeMounts", []) if not m.get("readOnly", False)
            ]
            assert all("emptyDir" in volumes[m["name"]] for m in writable)
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


def test_rbac_is_namespaced_by_default_and_never_touches_secrets(home: Path) -> None:
    rendered = render(values(), home)
    roles = rendered.all("Role")
    assert sorted((r["metadata"]["name"], r["metadata"]["namespace"]) for r in roles) == [
        (f"{FULLNAME}-lease", NAMESPACE),
        (f"{FULLNAME}-routers", NAMESPACE),
    ]
    [cluster_role] = rendered.all("ClusterRole")
    cluster_resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert cluster_resources == {
        "experimentengines",
        "experimentengines/status",
        "customresourcedefinitions",
        "namespaces",
    }
    # Read-only outside the engines: kopf only looks up CRDs and namespace names.
    for rule in cluster_role["rules"]:
        if rule["apiGroups"] != ["turnout.dev"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}
    routers = next(r for r in roles if r["metadata"]["name"].endswith("-routers"))
    granted = {
        (g, r) for rule in routers["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert {
        ("turnout.dev", "routers"),
        ("turnout.dev", "routers/status"),
        ("turnout.dev", "routers/finalizers"),  # blockOwnerDeletion, not a finalizer
        ("turnout.dev", "routerversions"),
        ("", "configmaps"),
        ("", "services"),
        ("apps", "deployments"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("", "events"),
    } <= granted
    # Pods: list only, in the Routers' namespaces (a rollout's new pods say why they fail).
    pod_rules = [r for role in roles for r in role["rules"] if "pods" in r["resources"]]
    assert pod_rules == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}] * len(
        [role for role in roles if role["metadata"]["name"].endswith("-routers")]
    )
    others = [r for role in [*roles, cluster_role] for r in role["rules"] if r not in pod_rules]
    everything = json.dumps(others)
    assert "secrets" not in everything and "pods" not in everything and '"*"' not in everything
    lease = next(r for r in roles if r["metadata"]["name"].endswith("-lease"))
    assert lease["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update", "patch"],
        }
    ]
    for binding in rendered.all("RoleBinding") + rendered.all("ClusterRoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
        ]
    assert operator_env(rendered)["TURNOUT_NAMESPACES"] == NAMESPACE


def test_listed_namespaces_get_a_role_each(home: Path) -> None:
    rendered = render(values(watchNamespaces=["models", "team-b"]), home)
    routers = [r for r in rendered.all("Role") if r["metadata"]["name"].endswith("-routers")]
    assert sorted(r["metadata"]["namespace"] for r in routers) == ["models", "team-b"]
    assert operator_env(rendered)["TURNOUT_NAMESPACES"] == "models,team-b"
    webhook = rendered.one("ValidatingWebhookConfiguration")["webhooks"][0]
    assert webhook["namespaceSelector"]["matchExpressions"][0]["values"] == ["models", "team-b"]


def test_cluster_wide_mode_uses_a_cluster_role_and_watches_everything(home: Path) -> None:
    rendered = render(values(rbac={"create": True, "clusterWide": True}), home)
    assert [r["metadata"]["name"] for r in rendered.all("Role")] == [f"{FULLNAME}-lease"]
    names = sorted(r["metadata"]["name"] for r in rendered.all("ClusterRole"))
    assert names == [f"{FULLNAME}-{NAMESPACE}-engines", f"{FULLNAME}-{NAMESPACE}-routers"]
    assert operator_env(rendered)["TURNOUT_NAMESPACES"] == ""
    assert "namespaceSelector" not in rendered.one("ValidatingWebhookConfiguration")["webhooks"][0]


# --- operator settings ---


def settings_from_env(env: dict[str, str]) -> dict[str, Any]:
    """The operator's settings as its own class reads them from exactly this environment."""
    script = (
        "import json; from turnout_operator.runtime.settings import OperatorSettings; "
        "print(OperatorSettings().model_dump_json())"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    settings: dict[str, Any] = json.loads(result.stdout)
    return settings


def test_the_operator_env_is_what_the_operators_settings_read(home: Path) -> None:
    rendered = render(
        values(
            experimentEngines=two_engines(),
            router={"resources": {"requests": {"cpu": 1, "memory": "256Mi"}}},
            operator={"settings": {"RESYNC_SECONDS": 120}},
        ),
        home,
    )
    env = operator_env(rendered)
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["TURNOUT_LEASE_NAMESPACE"] == "$(POD_NAMESPACE)"
    assert env["TURNOUT_DATABASE_URL"] == {"secretKeyRef": {"name": "turnout-db", "key": "url"}}
    plain = {k: v for k, v in env.items() if isinstance(v, str) and k.startswith("TURNOUT_")}
    plain["TURNOUT_DATABASE_URL"] = "postgresql+psycopg://u:p@db/turnout"
    plain["TURNOUT_LEASE_NAMESPACE"] = NAMESPACE
    settings = settings_from_env(plain)
    assert settings["router_resources"] == {
        "requests": {"cpu": "1", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},  # the chart's default, merged by helm
    }
    assert settings["router_image"] == "turnout:0.1.0"  # the operator's own image by default
    assert settings["namespaces"] == NAMESPACE
    assert settings["resync_seconds"] == 120
    assert settings["liveness_port"] == 8081
    assert settings["engines_file"] == "/etc/turnout/engines/engines.json"
    assert plain["TURNOUT_METRICS_PORT"] == "8080"
    assert plain["TURNOUT_LEADER_ELECTION"] == "true"
    assert plain["TURNOUT_LEASE_NAME"] == "turnout-operator"
    assert plain["TURNOUT_WEBHOOK_PORT"] == "9443"
    assert plain["TURNOUT_WEBHOOK_CERT_FILE"] == "/etc/turnout/webhook/tls.crt"
    assert plain["TURNOUT_WEBHOOK_KEY_FILE"] == "/etc/turnout/webhook/tls.key"
    [container] = operator_pod(rendered)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "healthz": 8081, "webhook": 9443}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "healthz"}


def test_replicas_strategy_and_disruption_budget(home: Path) -> None:
    rendered = render(values(replicaCount=2), home)
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"]
        == (deployment["spec"]["template"]["metadata"]["labels"])
    )
    alone = render(values(leaderElection={"enabled": False}), home)
    assert alone.one("Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert operator_env(alone)["TURNOUT_LEADER_ELECTION"] == "false"


# --- database and migration ---


def test_the_migration_job_is_a_pre_install_and_pre_upgrade_hook(home: Path) -> None:
    rendered = render(values(), home)
    job = rendered.one("Job", f"{FULLNAME}-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "turnout_operator", "db", "upgrade"]
    [url] = [e for e in container["env"] if e["name"] == "TURNOUT_DATABASE_URL"]
    assert url["valueFrom"] == {"secretKeyRef": {"name": "turnout-db", "key": "url"}}
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert render(values(migration={"enabled": False}), home).all("Job") == []


def test_the_quick_start_database_says_it_is_not_for_production(home: Path) -> None:
    url = "postgresql+psycopg://turnout:pw@postgres:5432/turnout"
    rendered = render({"database": {"quickstartUrl": url}}, home)
    assert rendered.secret_data(f"{FULLNAME}-database") == {"url": url}
    assert rendered.secret_data(f"{FULLNAME}-database-migrate") == {"url": url}
    hook = rendered.one("Secret", f"{FULLNAME}-database-migrate")
    assert hook["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"
    assert "not-for-production" in json.dumps(rendered.one("Secret", f"{FULLNAME}-database"))
    assert operator_env(rendered)["TURNOUT_DATABASE_URL"] == {
        "secretKeyRef": {"name": f"{FULLNAME}-database", "key": "url"}
    }
    notes = (CHART_DIR / "templates" / "NOTES.txt").read_text()
    assert "NOT FOR PRODUCTION" in notes


# --- admission webhook ---


def test_the_webhook_certificate_the_service_and_the_configuration_fit(home: Path) -> None:
    rendered = render(values(), home)
    service = rendered.one("Service", FULLNAME)
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"metrics": (8080, "metrics"), "webhook": (443, "webhook")}
    data = rendered.one("Secret", f"{FULLNAME}-webhook-cert")["data"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"]))
    cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {
        FULLNAME,
        f"{FULLNAME}.{NAMESPACE}",
        f"{FULLNAME}.{NAMESPACE}.svc",
    }
    public_key = ca.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert cert.signature_hash_algorithm is not None
    public_key.verify(  # raises when the serving cert was not signed by this CA
        cert.signature,
        cert.tbs_certificate_bytes,
        padding.PKCS1v15(),
        cert.signature_hash_algorithm,
    )
    [webhook] = rendered.one("ValidatingWebhookConfiguration")["webhooks"]
    assert webhook["clientConfig"]["caBundle"] == data["ca.crt"]
    assert webhook["clientConfig"]["service"] == {
        "name": FULLNAME,
        "namespace": NAMESPACE,
        "path": "/validate-router",
        "port": 443,
    }
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["timeoutSeconds"] == 10
    assert webhook["rules"] == [
        {
            "apiGroups": ["turnout.dev"],
            "apiVersions": ["v1alpha1"],
            "resources": ["routers"],
            "operations": ["CREATE", "UPDATE"],
            "scope": "Namespaced",
        }
    ]
    fail = render(values(webhook={"failurePolicy": "Fail"}), home)
    assert fail.one("ValidatingWebhookConfiguration")["webhooks"][0]["failurePolicy"] == "Fail"


def test_without_the_webhook_nothing_of_it_is_rendered(home: Path) -> None:
    rendered = render(values(webhook={"enabled": False}), home)
    assert rendered.all("ValidatingWebhookConfiguration") == []
    assert [s["metadata"]["name"] for s in rendered.all("Secret")] == [f"{FULLNAME}-engines"]
    assert [p["name"] for p in rendered.one("Service")["spec"]["ports"]] == ["metrics"]
    assert operator_env(rendered)["TURNOUT_WEBHOOK_PORT"] == "0"


def test_values_written_to_a_file_the_way_users_do(tmp_path: Path) -> None:
    # The example file as YAML, through -f, as the README tells users to install it.
    result = run_helm(
        [
            "template",
            RELEASE,
            str(CHART_DIR),
            "-n",
            NAMESPACE,
            "-f",
            str(write_values(tmp_path / "v.json", values())),
            "-f",
            str(REPO_ROOT / "examples" / "helm" / "values.yaml"),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
