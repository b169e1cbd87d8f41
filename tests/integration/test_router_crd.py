"""The generated Router CRD on a real API server: it is accepted, and it judges Routers as the models do.

Every row of tests/cases/routers.py goes through `kubectl apply`; the unit
tests run the same rows through the pydantic models.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devenv.cluster import Cluster
from devenv.procs import wait_until
from tests.cases.routers import (
    INVALID_ROUTERS,
    LARGE_CONFIG,
    VALID_ROUTERS,
    InvalidRouter,
    ValidRouter,
    spec,
    without_null_members,
)
from turnout_operator.api import API_VERSION, KIND, RouterSpec
from turnout_operator.api.crd import build_crd

pytestmark = pytest.mark.cluster

# A deadline for polling only: the API server publishes a new CRD's OpenAPI shortly after.
OPENAPI_SECONDS = 60.0


def manifest(name: str, namespace: str, spec_data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec_data,
        }
    )


def apply(
    cluster: Cluster, name: str, namespace: str, spec_data: dict[str, Any], *flags: str
) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "apply", *flags, "-f", "-", input=manifest(name, namespace, spec_data), check=False
    )


def stored(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    result = cluster.kubectl("get", "routers.turnout.dev", name, "-n", namespace, "-o", "json")
    stored_object: dict[str, Any] = json.loads(result.stdout)
    return stored_object


def test_crd_is_accepted_as_generated(cluster: Cluster, router_crd: str) -> None:
    crd = json.loads(cluster.kubectl("get", "crd", router_crd, "-o", "json").stdout)
    conditions = {
        condition["type"]: condition["status"] for condition in crd["status"]["conditions"]
    }
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    # Nothing was dropped or rewritten: the API server understood every key.
    assert crd["spec"]["versions"] == build_crd()["spec"]["versions"]
    assert crd["spec"]["names"] == build_crd()["spec"]["names"]


def test_the_top_level_crds_folder_applies_server_side_as_users_apply_it(
    cluster: Cluster,
) -> None:
    # The README's step, `kubectl apply --server-side -f crds/`, checked by the API server
    # (schemas, CEL cost limits) without changing what the other tests installed.
    crds = Path(__file__).resolve().parents[2] / "crds"
    result = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", str(crds))
    applied = sorted(line.split()[0] for line in result.stdout.splitlines())
    assert applied == [
        "customresourcedefinition.apiextensions.k8s.io/experimentengines.turnout.dev",
        "customresourcedefinition.apiextensions.k8s.io/routers.turnout.dev",
        "customresourcedefinition.apiextensions.k8s.io/routerversions.turnout.dev",
    ], result.stdout


@pytest.mark.parametrize("case", INVALID_ROUTERS, ids=lambda case: case.id)
def test_api_server_refuses_invalid_router_naming_the_field(
    cluster: Cluster, router_crd: str, namespace: str, case: InvalidRouter
) -> None:
    result = apply(cluster, case.name, namespace, case.spec)
    assert result.returncode != 0, result.stdout
    assert case.expected in result.stderr


@pytest.mark.parametrize("case", VALID_ROUTERS, ids=lambda case: case.id)
def test_api_server_accepts_valid_router_as_the_models_read_it(
    cluster: Cluster, router_crd: str, namespace: str, case: ValidRouter
) -> None:
    result = apply(cluster, case.name, namespace, case.spec)
    assert result.returncode == 0, result.stderr

    spec_back = stored(cluster, case.name, namespace)["spec"]
    # The API server's defaults are the models' defaults, and nothing was pruned
    # (but what client-side apply itself leaves out: see the null members test).
    sent = without_null_members(case.spec)
    assert RouterSpec.model_validate(spec_back) == RouterSpec.model_validate(sent)
    if "config" in sent.get("experimentEngine", {}):
        assert spec_back["experimentEngine"]["config"] == sent["experimentEngine"]["config"]


def test_free_form_engine_config_survives_a_round_trip(
    cluster: Cluster, router_crd: str, namespace: str
) -> None:
    """Nothing in the config is pruned or rewritten: nested objects, arrays, nulls, numbers."""
    spec_data = spec(
        experimentEngine={"type": "hardcoded", "config": LARGE_CONFIG}, routeNamePath="route_name"
    )
    result = apply(cluster, "large-config", namespace, spec_data, "--server-side")
    assert result.returncode == 0, result.stderr

    engine = stored(cluster, "large-config", namespace)["spec"]["experimentEngine"]
    assert engine == {"type": "hardcoded", "config": LARGE_CONFIG}


def test_client_side_apply_drops_null_members_of_the_config(
    cluster: Cluster, router_crd: str, namespace: str
) -> None:
    """kubectl's own merge semantics, not the API server: worth knowing for engine configs."""
    spec_data = spec(
        experimentEngine={"type": "hardcoded", "config": LARGE_CONFIG}, routeNamePath="route_name"
    )
    result = apply(cluster, "client-side", namespace, spec_data)
    assert result.returncode == 0, result.stderr

    config = stored(cluster, "client-side", namespace)["spec"]["experimentEngine"]["config"]
    assert config != LARGE_CONFIG
    assert config == without_null_members(LARGE_CONFIG)


def test_defaults_are_filled_in_by_the_api_server(
    cluster: Cluster, router_crd: str, namespace: str
) -> None:
    result = apply(cluster, "defaults", namespace, spec())
    assert result.returncode == 0, result.stderr

    spec_back = stored(cluster, "defaults", namespace)["spec"]
    assert spec_back["experimentEngine"] == {"type": "nop"}
    assert spec_back["timeout"] == "10s"
    assert spec_back["suspend"] is False
    assert [route["timeout"] for route in spec_back["routes"]] == ["5s", "5s"]


def test_unknown_field_is_refused_by_default_and_pruned_without_field_validation(
    cluster: Cluster, router_crd: str, namespace: str
) -> None:
    """kubectl asks for strict field validation by default; the API server then refuses
    unknown fields. Without it (--validate=false) the API server prunes them silently."""
    strict = apply(cluster, "pruned", namespace, spec(colour="blue"))
    assert strict.returncode != 0
    assert 'strict decoding error: unknown field "spec.colour"' in strict.stderr

    lax = apply(cluster, "pruned", namespace, spec(colour="blue"), "--validate=false")
    assert lax.returncode == 0, lax.stderr
    assert "colour" not in stored(cluster, "pruned", namespace)["spec"]


def test_explain_shows_the_model_descriptions(cluster: Cluster, router_crd: str) -> None:
    def explained() -> bool:
        result = cluster.kubectl("explain", "router.spec.experimentEngine", check=False)
        return (
            result.returncode == 0
            and "experiment engine that assigns each request" in result.stdout
        )

    wait_until("kubectl explain to know the Router kind", explained, timeout=OPENAPI_SECONDS)
    output = cluster.kubectl("explain", "router.spec.experimentEngine").stdout
    assert "config" in output and "free-form" in output
    assert "An engine name from the operator's experimentEngines values" in output


def test_printer_columns_show_status_through_the_status_subresource(
    cluster: Cluster, router_crd: str, namespace: str
) -> None:
    assert apply(cluster, "shown", namespace, spec()).returncode == 0
    status = {
        "phase": "Deployed",
        "currentVersion": 4,
        "deployedVersion": 3,
        "endpoint": "http://shown-router.example:8080/v1/predict",
        "replicas": 2,
        "message": "rolling out version 4",
    }
    cluster.kubectl(
        "patch",
        "rt",
        "shown",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )

    narrow = cluster.kubectl("get", "rt", "shown", "-n", namespace).stdout.splitlines()
    assert narrow[0].split() == ["NAME", "PHASE", "VERSION", "ENGINE", "ENDPOINT", "AGE"]
    assert narrow[1].split()[:5] == ["shown", "Deployed", "3", "nop", status["endpoint"]]

    # The `turnout` category lists Routers with the RouterVersions and ExperimentEngines.
    category = cluster.kubectl("get", "turnout", "-n", namespace, "-o", "name").stdout.split()
    assert "router.turnout.dev/shown" in category
    wide = cluster.kubectl("get", "rt", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "NAME",
        "PHASE",
        "VERSION",
        "ENGINE",
        "ENDPOINT",
        "AGE",
        "CURRENT",
        "REPLICAS",
        "MESSAGE",
    ]
    assert wide[1].split()[6:] == ["4", "2", "rolling", "out", "version", "4"]


def test_status_is_not_written_through_the_main_resource(
    cluster: Cluster, router_crd: str, namespace: str
) -> None:
    body = json.loads(manifest("no-status", namespace, spec()))
    body["status"] = {"phase": "Deployed"}
    result = cluster.kubectl("apply", "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode == 0, result.stderr
    assert "status" not in stored(cluster, "no-status", namespace)
