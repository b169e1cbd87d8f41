"""The admission webhook answered by a standby, called by the real API server on loopback.

Two operators with leader election, each with its own webhook port (one host),
and a ValidatingWebhookConfiguration that calls the standby only. The standby's
refusal must carry the plugin's own message (asked directly through plugin_host,
an independent source) in the same words the leader's kopf server sends. Then
the leader is killed, the standby takes the Lease, stops its own server and
kopf's server serves the same port.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from devenv.operator import log_records, wait_for
from devenv.procs import Process, free_port
from plugin_host import PluginClient
from tests.integration.test_admission_webhook import (
    NO_EXPERIMENTS,
    apply,
    go_manager,  # noqa: F401  (a fixture)
    go_refusal,
)
from tests.integration.test_operator import router_manifest
from tests.substrate.engine_fixtures import Webhook
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.e2e


def messages(process: Process, message: str) -> list[dict[str, Any]]:
    return [r for r in log_records(process.log_path) if r.get("message") == message]


def refusal_line(stderr: str) -> str:
    (line,) = [x for x in stderr.splitlines() if "denied the request" in x]
    return line


async def test_the_standby_answers_like_the_leader_then_kopf_takes_its_port(
    operators: OperatorHarness,
    webhook: Webhook,
    go_manager: PluginClient,  # noqa: F811  (the fixture imported above)
) -> None:
    h = operators
    leader_port = free_port()
    first = h.start(
        h.go_engine("hardcoded"),
        env={
            **webhook.operator_env(),
            "TURNOUT_WEBHOOK_PORT": str(leader_port),
            "TURNOUT_POD_NAME": "replica-a",
        },
    )
    wait_for(lambda: messages(first, "became leader"), 60, "replica a leads", first)
    second = h.start(
        h.go_engine("hardcoded"),
        env={**webhook.operator_env(), "TURNOUT_POD_NAME": "replica-b"},
        workdir=h.workdir / "b",
    )
    wait_for(lambda: messages(second, "waiting for leadership"), 60, "replica b waits", second)
    webhook.wait_serving(timeout=60)  # replica b's port: b is a standby
    assert messages(second, "standby admission webhook on")
    assert not messages(second, "became leader")

    # What the leader says, through its kopf server, for a config the plugin refuses.
    standby_port = webhook.port
    webhook.port = leader_port
    webhook.configure("Fail")
    from_leader = apply(h, router_manifest("bad", config=NO_EXPERIMENTS))
    assert from_leader.returncode != 0

    webhook.port = standby_port
    webhook.configure("Fail")  # the standby only, and Fail: no answer would refuse
    expected = await go_refusal(go_manager, NO_EXPERIMENTS)
    from_standby = apply(h, router_manifest("bad", config=NO_EXPERIMENTS))
    assert from_standby.returncode != 0, from_standby.stdout
    assert refusal_line(from_standby.stderr).endswith(
        'admission webhook "routers.turnout.dev" denied the request: '
        f"spec.experimentEngine.config: engine 'hardcoded' rejected it: {expected}"
    )
    assert refusal_line(from_standby.stderr) == refusal_line(from_leader.stderr)
    unknown = apply(h, router_manifest("unknown", engine="nosuch"))
    assert unknown.returncode != 0
    assert (
        "spec.experimentEngine.type: engine 'nosuch' is not configured in this operator; "
        "configured engines: nop, hardcoded"
    ) in unknown.stderr
    assert apply(h, router_manifest("good")).returncode == 0, "a valid Router is allowed"
    assert h.kubectl_json("get", "router", "bad") is None
    assert messages(second, "router loop started") == []  # still a standby

    # The leader dies: b takes the Lease, stops its server, and kopf's serves the port.
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(timeout=30)
    wait_for(lambda: messages(second, "became leader"), 120, "replica b leads", second)
    wait_for(
        lambda: messages(second, "standby admission webhook off"), 60, "b's own server off", second
    )
    h.wait_deployed("good", 1, timeout=120)  # kopf runs in b
    webhook.wait_serving(timeout=60)
    again = apply(h, router_manifest("bad", config=NO_EXPERIMENTS))
    assert again.returncode != 0
    assert refusal_line(again.stderr) == refusal_line(from_standby.stderr)
    assert second.alive()
