"""A plugin image whose binary is not the one that validated the version, on real pods.

The operator validates each version with its own plugin binary and records its SHA-256.
Here the operator is restarted with another binary behind the same image reference (the
Python zipapp where the image holds Turing's Go plugin): a new version is made, its router
pods copy the image's binary, find the digest differs, exit in their own words, and the
Router says which image moved while version 1 keeps serving every request.
"""

from __future__ import annotations

import hashlib

import pytest

from devenv.operator import Engine
from devenv.realnode.images import Images
from tests.cases.treatments import reference_variant
from tests.realnode.load import Load
from tests.realnode.support import (
    apply,
    post,
    router_manifest,
    service_url,
    wait_routed,
)
from tests.substrate.operator_fixtures import ENGINE_OPTIONS, OperatorHarness

pytestmark = pytest.mark.realnode


def test_a_moved_plugin_image_fails_the_new_version_naming_the_image_and_v1_keeps_serving(
    operators: OperatorHarness, realnode_images: Images, upstreams: dict[str, str]
) -> None:
    h = operators
    image = realnode_images.go_plugin
    env = {"TURNOUT_ROUTER_IMAGE": realnode_images.turnout}
    h.start(
        Engine(name="hardcoded", binary=h.go_plugin, options=ENGINE_OPTIONS, image=image), env=env
    )
    apply(h.cluster, h.namespace, router_manifest("demo", upstreams))
    h.wait_deployed("demo", 1)
    url = service_url(h.cluster, h.namespace, "demo-router")
    wait_routed(url, "version 1 to answer")

    load = Load(url).start()
    try:
        h.operator.stop()
        h.start(
            Engine(name="hardcoded", binary=h.python_plugin, options=ENGINE_OPTIONS, image=image),
            env=env,
        )
        status = h.wait_status(
            "demo",
            lambda s: s.get("currentVersion") == 2 and s.get("phase") != "Deploying",
            "version 2 (validated by another binary) to be judged",
            240,
        )
    finally:
        load.stop()
    assert status.get("deployedVersion") == 1, status
    messages = " ".join(c.get("message", "") for c in status.get("conditions", []))
    assert f"the plugin image {image} moved" in messages, status
    validated = hashlib.sha256(h.python_plugin.read_bytes()).hexdigest()
    found = hashlib.sha256(h.go_plugin.read_bytes()).hexdigest()
    assert validated in messages and found in messages, status
    assert load.sent > 50
    assert load.failures == [], f"{len(load.failures)} of {load.sent} failed: {load.failures[:10]}"
    for unit in range(1, 21):
        assert post(url, unit, f"m{unit}")[1]["Turnout-Route"] == reference_variant(unit)
