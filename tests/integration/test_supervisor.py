"""PluginSupervisor: a crashed or killed plugin is replaced and configured again; failing
starts back off instead of spinning."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from devenv.gopeers import HARDCODED_RUNNER_CONFIG_TEXT, GoPeers
from plugin_host import PluginClient, PluginConfig, PluginStartError, TransportError
from plugin_host.supervisor import PluginSupervisor, SupervisorSettings
from tests.failures import LONG_CALL_TIMEOUT, assert_failed_on_the_transport

pytestmark = pytest.mark.interop

PAYLOAD = b'{"client": {"id": 4}}'


async def wait_until(predicate: object, deadline_s: float = 20.0) -> None:
    assert callable(predicate)
    for _ in range(int(deadline_s / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_crashed_plugin_is_replaced_and_reconfigured(gopeers: GoPeers) -> None:
    configured: list[int] = []

    async def configure(client: PluginClient) -> None:
        runner = await client.runner()
        await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
        configured.append(client.process.pid)

    config = PluginConfig(
        path=str(gopeers.hardcoded_plugin),
        env={"TURNOUT_TEST_FAULT": "crash@GetTreatmentForRequest"},
        call_timeout=LONG_CALL_TIMEOUT,
    )
    supervisor = PluginSupervisor(config, on_start=configure)
    try:
        first = await supervisor.client()
        with pytest.raises(TransportError) as caught:
            await (await first.runner()).get_treatment_for_request({}, PAYLOAD)
        assert_failed_on_the_transport(caught.value)
        await first.process.wait()
        second = await supervisor.client()
        assert second is not first and second.process.pid != first.process.pid
        assert configured == [first.process.pid, second.process.pid]
        assert supervisor.starts == 2
        assert supervisor.last_error is not None and "exited with code 2" in supervisor.last_error
    finally:
        await supervisor.close()
    assert second.process.exited and first.process.exited


async def test_health_check_replaces_a_killed_plugin_in_the_background(gopeers: GoPeers) -> None:
    settings = SupervisorSettings(ping_interval=0.1, ping_timeout=2.0)
    supervisor = PluginSupervisor(
        PluginConfig(path=str(gopeers.hardcoded_plugin)), settings=settings
    )
    try:
        first = await supervisor.client()
        os.kill(first.process.pid, signal.SIGKILL)
        await wait_until(lambda: supervisor.starts == 2)
        replacement = await supervisor.client()
        assert replacement.process.pid != first.process.pid
        await replacement.ping()
    finally:
        await supervisor.close()


async def test_failing_starts_back_off(gopeers: GoPeers) -> None:
    config = PluginConfig(
        path=str(gopeers.hardcoded_plugin), env={"TURNOUT_TEST_FAULT": "startup-exit=3"}
    )
    supervisor = PluginSupervisor(config, settings=SupervisorSettings(min_backoff=30.0))
    try:
        with pytest.raises(PluginStartError, match="exited with code 3"):
            await supervisor.client()
        # Within the backoff no process is started: the error says when the next try is.
        for _ in range(5):
            with pytest.raises(PluginStartError, match="next start attempt in"):
                await supervisor.client()
        assert supervisor.failed_starts == 1
        assert supervisor.last_error is not None and "exited with code 3" in supervisor.last_error
    finally:
        await supervisor.close()


async def test_closed_supervisor_refuses(gopeers: GoPeers) -> None:
    supervisor = PluginSupervisor(PluginConfig(path=str(gopeers.hardcoded_plugin)))
    client = await supervisor.client()
    await supervisor.close()
    assert client.process.exited
    with pytest.raises(PluginStartError, match="closed"):
        await supervisor.client()
