"""The Router admission webhook, called by the real API server over loopback HTTPS.

The test makes a CA and a certificate for 127.0.0.1, starts the operator serving
it, and registers a ValidatingWebhookConfiguration (`url` client config) limited
to the test's namespace. What kubectl prints is compared with what the Go port
of Turing's example plugin says when asked directly through plugin_host: an
independent source for the plugin's message.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devenv.certs import make_serving_cert
from devenv.gopeers import HARDCODED_MANAGER_CONFIG, GoPeers
from devenv.operator import Engine, wait_for
from plugin_host import PluginClient, PluginConfig, RemoteError
from tests.integration.test_engine_objects import plugin_pid
from tests.integration.test_operator import EXPERIMENT_CONFIG, router_manifest
from tests.substrate.engine_fixtures import Webhook
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.cluster

# Turing's standard manager refuses an experiment selection without experiments,
# and a client without an id when client selection is on; here experiment selection is on.
NO_EXPERIMENTS: dict[str, Any] = {**copy.deepcopy(EXPERIMENT_CONFIG), "experiments": []}
NAMELESS_EXPERIMENT: dict[str, Any] = {
    **copy.deepcopy(EXPERIMENT_CONFIG),
    "experiments": [{"id": "001", "name": ""}],
}


@pytest.fixture
async def go_manager(gopeers: GoPeers) -> AsyncIterator[PluginClient]:
    plugin = await PluginClient.start(
        PluginConfig(path=str(gopeers.hardcoded_plugin), call_timeout=10)
    )
    try:
        manager = await plugin.manager()
        await manager.configure(HARDCODED_MANAGER_CONFIG)
        yield plugin
    finally:
        await plugin.close()


async def go_refusal(plugin: PluginClient, config: Any) -> str:
    """What Turing's code says about `config`, asked directly."""
    manager = await plugin.manager()
    with pytest.raises(RemoteError) as refused:
        await manager.validate_experiment_config(config)
    return refused.value.message


def apply(h: OperatorHarness, manifest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return h.cluster.kubectl(
        "apply", "-n", h.namespace, "-f", "-", input=json.dumps(manifest), check=False
    )


def start_with_webhook(h: OperatorHarness, hook: Webhook, policy: str) -> None:
    h.start(h.go_engine("hardcoded"), env=hook.operator_env())
    hook.wait_serving(leader=h.operator)
    hook.configure(policy)


async def test_the_plugins_refusal_is_kubectls_error(
    operators: OperatorHarness, webhook: Webhook, go_manager: PluginClient
) -> None:
    start_with_webhook(operators, webhook, "Fail")
    for name, config in (("empty", NO_EXPERIMENTS), ("nameless", NAMELESS_EXPERIMENT)):
        expected = await go_refusal(go_manager, config)
        result = apply(operators, router_manifest(name, config=config))
        assert result.returncode != 0, result.stdout
        assert (
            f'admission webhook "routers.turnout.dev" denied the request: '
            f"spec.experimentEngine.config: engine 'hardcoded' rejected it: {expected}"
        ) in result.stderr
        assert operators.kubectl_json("get", "router", name) is None  # never stored

    unknown = apply(operators, router_manifest("unknown", engine="nosuch"))
    assert unknown.returncode != 0
    assert (
        "spec.experimentEngine.type: engine 'nosuch' is not configured in this operator; "
        "configured engines: nop, hardcoded"
    ) in unknown.stderr

    # A valid config goes through, and a later edit to a bad config is refused too.
    assert apply(operators, router_manifest("good")).returncode == 0
    edited = router_manifest("good", config=NO_EXPERIMENTS)
    refused = apply(operators, edited)
    assert refused.returncode != 0 and "rejected it" in refused.stderr
    stored = operators.router("good")["spec"]["experimentEngine"]["config"]
    assert stored == EXPERIMENT_CONFIG


async def test_operator_down_with_ignore_the_apply_goes_through_and_configvalid_catches_it(
    operators: OperatorHarness, webhook: Webhook, go_manager: PluginClient
) -> None:
    start_with_webhook(operators, webhook, "Ignore")
    operators.operator.stop()
    result = apply(operators, router_manifest("late", config=NO_EXPERIMENTS))
    assert result.returncode == 0, result.stderr
    # The operator, back (the webhook is not needed for this), says what the webhook would have.
    operators.start(operators.go_engine("hardcoded"))
    status = operators.wait_condition("late", "ConfigValid", "False")
    condition = next(c for c in status["conditions"] if c["type"] == "ConfigValid")
    expected = await go_refusal(go_manager, NO_EXPERIMENTS)
    assert condition["reason"] == "ExperimentConfigInvalid"
    assert condition["message"] == (
        f"spec.experimentEngine.config: engine 'hardcoded' rejected it: {expected}"
    )


def test_operator_down_with_fail_the_api_server_refuses(
    operators: OperatorHarness, webhook: Webhook
) -> None:
    start_with_webhook(operators, webhook, "Fail")
    assert apply(operators, router_manifest("first")).returncode == 0
    operators.operator.stop()
    result = apply(operators, router_manifest("second"))
    assert result.returncode != 0
    assert 'failed calling webhook "routers.turnout.dev"' in result.stderr
    assert "connection refused" in result.stderr
    # Deleting is not an operation the webhook covers.
    deleted = operators.cluster.kubectl(
        "delete", "router", "first", "-n", operators.namespace, "--wait=false", check=False
    )
    assert deleted.returncode == 0, deleted.stderr


def test_plugin_down_or_slow_allows_with_a_warning(
    operators: OperatorHarness, webhook: Webhook
) -> None:
    # The Go plugin hangs in ValidateExperimentConfig from its first call.
    options = {**HARDCODED_MANAGER_CONFIG, "fault": "hang@manager.ValidateExperimentConfig"}
    operators.start(Engine("hardcoded", operators.go_plugin, options), env=webhook.operator_env())
    webhook.wait_serving(leader=operators.operator)
    webhook.configure("Fail")
    slow = apply(operators, router_manifest("slow", config=NO_EXPERIMENTS))
    assert slow.returncode == 0, slow.stderr
    assert "Warning: engine 'hardcoded' could not check spec.experimentEngine.config now" in (
        slow.stderr
    )
    assert "Plugin.ValidateExperimentConfig: no answer from plugin" in slow.stderr
    assert "within 5s" in slow.stderr

    # The plugin gone (its binary fails to start): allowed, with the reason.
    binary = operators.workdir / "plugins" / "hardcoded"
    binary.unlink()  # the running binary cannot be written over
    binary.write_text("#!/bin/sh\nexit 3\n")
    binary.chmod(0o755)
    os.kill(plugin_pid(operators.operator.pid, "hardcoded"), signal.SIGKILL)
    wait_for(
        lambda: "engine plugin is down" in operators.operator.log_path.read_text(),
        60,
        "the operator to notice the plugin is gone",
        operators.operator,
    )
    down = apply(operators, router_manifest("down", config=NO_EXPERIMENTS))
    assert down.returncode == 0, down.stderr
    assert "its plugin is not running" in down.stderr


def test_a_rotated_certificate_is_served_without_a_restart(
    operators: OperatorHarness, webhook: Webhook, tmp_path: Path
) -> None:
    # Mounted like a Secret: the files are links through `..data`, which the kubelet swaps
    # in one rename, so the certificate and the key change together.
    mount = tmp_path / "mount"
    first = tmp_path / "first"
    first.mkdir()
    for name in ("tls.crt", "tls.key"):
        source = webhook.cert.cert if name == "tls.crt" else webhook.cert.key
        shutil.copy(source, first / name)
    mount.mkdir()
    (mount / "..data").symlink_to(first)
    for name in ("tls.crt", "tls.key"):
        (mount / name).symlink_to(Path("..data") / name)
    env = {
        **webhook.operator_env(),
        "TURNOUT_WEBHOOK_CERT_FILE": str(mount / "tls.crt"),
        "TURNOUT_WEBHOOK_KEY_FILE": str(mount / "tls.key"),
    }
    operators.start(operators.go_engine("hardcoded"), env=env)
    webhook.wait_serving(leader=operators.operator)
    webhook.configure("Fail")
    assert apply(operators, router_manifest("before")).returncode == 0

    webhook.cert = make_serving_cert(tmp_path / "second", "turnout-webhook", ["127.0.0.1"])
    swap = mount / "..data_new"
    swap.symlink_to(webhook.cert.cert.parent)
    swap.rename(mount / "..data")
    webhook.configure("Fail")  # the new CA bundle, as the chart's upgrade would set it
    # kopf hashes the files every 60 s and restarts its server on a change.
    webhook.wait_serving(timeout=150)
    refused = apply(operators, router_manifest("after", config=NO_EXPERIMENTS))
    assert refused.returncode != 0
    assert "rejected it" in refused.stderr
    assert operators.operator.alive()


def test_a_secret_the_plugin_echoes_is_hidden_from_kubectl_and_the_router(
    operators: OperatorHarness, webhook: Webhook
) -> None:
    token = "tok-98765-secret"
    options = {
        **HARDCODED_MANAGER_CONFIG,
        "apiToken": token,
        # The plugin's refusal repeats the credential.
        "fault": f"error=upstream said bad token {token}@manager.ValidateExperimentConfig",
    }
    operators.start(Engine("hardcoded", operators.go_plugin, options), env=webhook.operator_env())
    webhook.wait_serving(leader=operators.operator)
    webhook.configure("Fail")
    refused = apply(operators, router_manifest("leaky"))
    assert refused.returncode != 0
    assert "rejected it: upstream said bad token <hidden>" in refused.stderr
    assert token not in refused.stderr

    # Without the webhook the Router is stored, and its condition hides the token too.
    operators.cluster.kubectl("delete", "validatingwebhookconfiguration", webhook.name)
    assert apply(operators, router_manifest("leaky")).returncode == 0
    status = operators.wait_condition("leaky", "ConfigValid", "False")
    assert token not in json.dumps(status)
    assert "upstream said bad token <hidden>" in json.dumps(status)
