"""Randomly generated invalid Router specs: every one is refused, naming the field.

Each generated manifest (tests/chaos/invalid_specs.py) is sent to the real API
server as a server-side dry run of a create. The CRD's schema and CEL rules
refuse most of them there; any that gets through is created for real and the
running operator must report it with `ConfigValid=False` and a message naming
the same field.

The operator's own judgement is tested too: a share of the same cases is
created in a control plane of the test's own whose Router CRD checks nothing
(as a CRD older than the operator would let them in), and the operator there
must refuse every one with `ConfigValid=False` naming the field. Meanwhile the
operators must keep running and must not loop: a few passes per Router at most.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from kubernetes import client as k8s_client
from kubernetes.client import ApiException

from devenv.gopeers import GoPeers
from devenv.operator import log_records
from devenv.procs import ProcessRegistry
from tests.chaos.invalid_specs import InvalidCase, invalid_cases
from tests.chaos.support import (
    managed_objects,
    open_crd,
    private_cluster,
    reconcile_failures,
    routers,
    sizes,
)
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.chaos

# Passes that may log "reconciled" for one Router that never becomes valid: the first
# verdict, and the write after our own status write came back. More means a loop.
MAX_PASSES_PER_ROUTER = 3
OPEN_NAMESPACE = "open"


def test_invalid_specs_are_refused_naming_the_field_and_the_operator_survives(
    operators: OperatorHarness,
    migrated_database: str,
    python_plugin: Path,
    gopeers: GoPeers,
    seed: int,
    tmp_path: Path,
) -> None:
    h = operators
    size = sizes()
    h.start()
    refused: Counter[str] = Counter()
    accepted: list[tuple[str, InvalidCase]] = []
    drawn: list[InvalidCase] = []
    wrong: list[str] = []

    with h.cluster.api_client() as api:
        custom = k8s_client.CustomObjectsApi(api)

        def create(case: InvalidCase, dry_run: bool) -> str | None:
            """None when the API server took it; its message when it refused it."""
            try:
                custom.create_namespaced_custom_object(
                    "turnout.dev",
                    "v1alpha1",
                    h.namespace,
                    "routers",
                    case.manifest,
                    dry_run="All" if dry_run else None,
                )
            except ApiException as error:
                if error.status != 422:
                    raise
                message: str = json.loads(error.body or "{}")["message"]
                return message
            return None

        @hypothesis_seed(seed)
        @settings(
            max_examples=size.invalid_specs,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=invalid_cases)
        def check(case: InvalidCase) -> None:
            drawn.append(copy.deepcopy(case))
            message = create(case, dry_run=True)
            if message is None:
                if case.rule != "name too long":
                    case.manifest["metadata"]["name"] = f"bad-{len(accepted)}"
                if create(case, dry_run=False) is None:
                    accepted.append((case.manifest["metadata"]["name"], case))
                return
            refused[case.rule] += 1
            if case.field not in message:
                wrong.append(f"{case.rule}: {case.field} not in {message!r}")

        check()

    assert wrong == []
    tried = sum(refused.values()) + len(accepted)
    assert tried >= size.invalid_specs // 2, (tried, refused)
    # Every rule was drawn (at this count each is all but certain to be).
    assert len(refused) + len({c.rule for _, c in accepted}) >= 20, refused

    for name, case in accepted:
        status = h.wait_condition(name, "ConfigValid", "False", timeout=60)
        valid = h.condition(name, "ConfigValid")
        assert case.field in valid["message"], (case.rule, valid)
        assert status["phase"] == "Failed", name
    # Not looping: after every verdict is out, a few passes per Router at most.
    records = log_records(h.operator.log_path)
    passes = Counter(r.get("router") for r in records if r.get("message") == "reconciled")
    assert {n: c for n, c in passes.items() if c > MAX_PASSES_PER_ROUTER} == {}
    assert set(routers(h)) == {name for name, _ in accepted}
    assert reconcile_failures(records) == []
    assert h.operator.alive()

    # One case of every rule first, then the others in the order drawn.
    firsts = list({case.rule: case for case in reversed(drawn)}.values())
    chosen = firsts + [case for case in drawn if all(case is not f for f in firsts)]
    judged = _judged_by_the_operator(
        chosen[: max(size.invalid_judged, len(firsts))],
        migrated_database,
        python_plugin,
        gopeers,
        tmp_path,
    )
    print(
        f"refused at apply time: {dict(refused)}; accepted then judged: {len(accepted)}; "
        f"judged by the operator under a CRD that checks nothing: {judged}"
    )


def _judged_by_the_operator(
    cases: list[InvalidCase],
    database_url: str,
    python_plugin: Path,
    gopeers: GoPeers,
    tmp_path: Path,
) -> dict[str, int]:
    """Create ``cases`` where the API server checks nothing; the operator must refuse each."""
    judged: Counter[str] = Counter()
    with private_cluster(tmp_path / "open-cluster", OPEN_NAMESPACE, open_crd()) as (_, cluster):
        h = OperatorHarness(
            cluster=cluster,
            database_url=database_url,
            namespace=OPEN_NAMESPACE,
            workdir=tmp_path / "open-operator",
            registry=ProcessRegistry(),
            python_plugin=python_plugin,
            go_plugin=gopeers.hardcoded_plugin,
        )
        try:
            h.start()
            created: dict[str, InvalidCase] = {}
            for index, case in enumerate(cases):
                manifest = copy.deepcopy(case.manifest)
                if case.rule != "name too long":
                    manifest["metadata"]["name"] = f"bad-{index}"
                elif manifest["metadata"]["name"] in created:
                    continue
                h.apply(manifest)
                created[manifest["metadata"]["name"]] = case
            for name, case in created.items():
                status = h.wait_condition(name, "ConfigValid", "False", timeout=60)
                valid = h.condition(name, "ConfigValid")
                assert valid["reason"] == "InvalidSpec", (case.rule, valid)
                assert case.field in valid["message"], (case.rule, valid)
                assert status["phase"] == "Failed", (case.rule, status)
                judged[case.rule] += 1
            records = log_records(h.operator.log_path)
            passes = Counter(r.get("router") for r in records if r.get("message") == "reconciled")
            assert {n: c for n, c in passes.items() if c > MAX_PASSES_PER_ROUTER} == {}
            assert reconcile_failures(records) == []
            assert h.operator.alive()
            # Nothing was made for any of them.
            assert managed_objects(h) == {"ConfigMap": set(), "Deployment": set(), "Service": set()}
        finally:
            h.registry.stop_all()
    return dict(judged)
