"""What the host does when plugins misbehave: every case ends in a clear error, never a hang."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.gopeers import HARDCODED_RUNNER_CONFIG_TEXT, GoPeers
from plugin_host import (
    CallTimeoutError,
    ChecksumMismatchError,
    PluginClient,
    PluginConfig,
    PluginStartError,
    ProtocolError,
    TransportError,
)
from tests.failures import LONG_CALL_TIMEOUT, assert_failed_on_the_transport

pytestmark = pytest.mark.interop

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
UNIT_PAYLOAD = json.dumps({"client": {"id": 4}}).encode()


def go_plugin(gopeers: GoPeers, fault: str = "", **options: object) -> PluginConfig:
    env = {"TURNOUT_TEST_FAULT": fault} if fault else {}
    return PluginConfig(path=str(gopeers.hardcoded_plugin), env=env, **options)  # type: ignore[arg-type]


def python_plugin(script: str, **options: object) -> PluginConfig:
    return PluginConfig(path=sys.executable, args=(str(PLUGINS / script),), name=script, **options)  # type: ignore[arg-type]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes; its parent (the test) has not reaped it yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def test_plugin_killed_mid_call_fails_fast_with_transport_error(gopeers: GoPeers) -> None:
    plugin = await PluginClient.start(
        go_plugin(gopeers, "crash@GetTreatmentForRequest#2", call_timeout=LONG_CALL_TIMEOUT)
    )
    try:
        runner = await plugin.runner()
        await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
        await runner.get_treatment_for_request({}, UNIT_PAYLOAD)  # first call works
        with pytest.raises(TransportError) as caught:
            await runner.get_treatment_for_request({}, UNIT_PAYLOAD)
        # It failed on the crash itself, not on the deadline.
        assert_failed_on_the_transport(caught.value)
        await plugin.process.wait()
        assert plugin.failure is not None and "exited with code 2" in plugin.failure
        with pytest.raises(TransportError) as caught:
            await plugin.ping(timeout=LONG_CALL_TIMEOUT)
        assert_failed_on_the_transport(caught.value)
    finally:
        await plugin.close()


async def test_external_sigkill_mid_call(gopeers: GoPeers) -> None:
    plugin = await PluginClient.start(go_plugin(gopeers, "hang", call_timeout=LONG_CALL_TIMEOUT))
    try:
        runner = await plugin.runner()
        await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
        pending = asyncio.create_task(runner.get_treatment_for_request({}, UNIT_PAYLOAD))
        await asyncio.sleep(0.2)
        os.kill(plugin.process.pid, signal.SIGKILL)
        with pytest.raises(TransportError) as caught:
            await pending
        assert_failed_on_the_transport(caught.value)
    finally:
        await plugin.close()


async def test_hanging_plugin_hits_the_per_call_timeout_and_close_kills_it(
    gopeers: GoPeers,
) -> None:
    plugin = await PluginClient.start(go_plugin(gopeers, "hang"))
    try:
        runner = await plugin.runner()
        await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
        with pytest.raises(CallTimeoutError, match="within 0.5s"):
            await runner.get_treatment_for_request({}, UNIT_PAYLOAD, timeout=0.5)
        await plugin.ping()  # the plugin is alive, only that call hangs
    finally:
        await plugin.close()
    assert not pid_alive(plugin.process.pid)


async def test_missing_cookie_is_a_clear_start_error(gopeers: GoPeers) -> None:
    config = PluginConfig(path=str(gopeers.hardcoded_plugin), cookie_value="not-turing")
    with pytest.raises(
        PluginStartError,
        match="exited with code 1 before completing the handshake; its stderr: This binary is a plugin",
    ):
        await PluginClient.start(config)


async def test_plugin_that_exits_at_once(gopeers: GoPeers) -> None:
    with pytest.raises(
        PluginStartError, match="exited with code 3 before completing the handshake"
    ):
        await PluginClient.start(go_plugin(gopeers, "startup-exit=3"))


async def test_garbage_handshake(gopeers: GoPeers) -> None:
    with pytest.raises(ProtocolError, match="unrecognized remote plugin message"):
        await PluginClient.start(go_plugin(gopeers, "startup-garbage"))


async def test_oversized_handshake_is_refused() -> None:
    with pytest.raises(ProtocolError, match="longer than 65536 bytes"):
        await PluginClient.start(python_plugin("oversized_handshake.py"))


async def test_silent_plugin_hits_the_start_timeout(gopeers: GoPeers) -> None:
    with pytest.raises(PluginStartError, match="no handshake within 1s"):
        await PluginClient.start(go_plugin(gopeers, "startup-hang", start_timeout=1))


async def test_checksum_mismatch_is_refused_before_exec(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    binary = tmp_path / "plugin"
    binary.write_text(f"#!/bin/sh\necho executed > {marker}\n")
    binary.chmod(0o755)
    with pytest.raises(ChecksumMismatchError, match="expected 0000"):
        await PluginClient.start(PluginConfig(path=str(binary), sha256="0000" + "0" * 60))
    assert not marker.exists()


async def test_matching_checksum_is_accepted(gopeers: GoPeers) -> None:
    digest = hashlib.sha256(gopeers.hardcoded_plugin.read_bytes()).hexdigest()
    plugin = await PluginClient.start(
        PluginConfig(path=str(gopeers.hardcoded_plugin), sha256=digest)
    )
    await plugin.ping()
    await plugin.close()


async def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(PluginStartError, match="does not exist or is not executable"):
        await PluginClient.start(PluginConfig(path=str(tmp_path / "nope")))


async def test_host_killed_takes_the_plugin_with_it(gopeers: GoPeers) -> None:
    host = subprocess.Popen(
        [sys.executable, str(PLUGINS / "host_then_wait.py"), str(gopeers.hardcoded_plugin)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None
        plugin_pid = int(host.stdout.readline())
        assert pid_alive(plugin_pid)
        host.kill()
        host.wait(10)
        deadline = time.monotonic() + 10
        while pid_alive(plugin_pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not pid_alive(plugin_pid)
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()


async def test_garbage_on_stdout_and_logs_on_stderr_do_not_disturb_calls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="turnout.plugin")
    plugin = await PluginClient.start(python_plugin("noisy_plugin.py"))
    try:
        runner = await plugin.runner()
        for _ in range(3):
            treatment = await runner.get_treatment_for_request({}, b"{}")
            assert treatment.name == "control"
    finally:
        await plugin.close()
    warnings = [
        r for r in caplog.records if r.name == "turnout.plugin" and r.levelno == logging.WARNING
    ]
    assert warnings and warnings[0].getMessage() == "treatment asked"
    assert warnings[0].plugin == "noisy_plugin.py"
    stdout_lines = [r for r in caplog.records if getattr(r, "plugin_stream", "") == "stdout"]
    assert any("garbage on stdout" in r.getMessage() for r in stdout_lines)


async def test_go_plugin_logs_become_leveled_records(
    gopeers: GoPeers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="turnout.plugin")
    plugin = await PluginClient.start(go_plugin(gopeers, "error=boom@runner.Configure"))
    try:
        runner = await plugin.runner()
        with pytest.raises(Exception, match="boom"):
            await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
    finally:
        await plugin.close()
    records = [r for r in caplog.records if r.name == "turnout.plugin"]
    # go-plugin's own "plugin address" debug line, parsed from hclog JSON.
    assert any(r.getMessage() == "plugin address" and r.levelno == logging.DEBUG for r in records)
    assert all(r.plugin == "hardcoded-plugin" for r in records)


async def test_environment_can_be_withheld(
    gopeers: GoPeers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugin_host.process import plugin_environment

    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    config = PluginConfig(
        path=str(gopeers.hardcoded_plugin), inherit_env=False, env={"ONLY": "this"}
    )
    env = plugin_environment(config, "/tmp/x")
    assert (
        "SECRET_TOKEN" not in env
        and env["ONLY"] == "this"
        and env["EXPERIMENTS_PLUGIN"] == "turing"
    )
    plugin = await PluginClient.start(config)
    try:
        environ = Path(f"/proc/{plugin.process.pid}/environ").read_bytes().split(b"\0")
        assert b"SECRET_TOKEN=s3cret" not in environ
        await plugin.ping()
    finally:
        await plugin.close()


async def test_socket_directory_is_private(gopeers: GoPeers) -> None:
    plugin = await PluginClient.start(PluginConfig(path=str(gopeers.hardcoded_plugin)))
    try:
        assert plugin.process.handshake is not None
        assert plugin.process.handshake.address.startswith(plugin.process.socket_dir)
        assert os.stat(plugin.process.socket_dir).st_mode & 0o777 == 0o700
    finally:
        await plugin.close()
    assert not Path(plugin.process.socket_dir).exists()


async def test_python_plugin_exits_when_the_host_connection_goes_away() -> None:
    plugin = await PluginClient.start(python_plugin("noisy_plugin.py"))
    try:
        await plugin.ping()
        plugin.session.close()  # no Quit: the host just disappears
        code = await asyncio.wait_for(plugin.process.wait(), 10)
        assert code == 0
    finally:
        await plugin.close()


async def test_go_panic_is_logged_as_errors(
    gopeers: GoPeers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="turnout.plugin")
    plugin = await PluginClient.start(go_plugin(gopeers, "panic", call_timeout=LONG_CALL_TIMEOUT))
    try:
        runner = await plugin.runner()
        await runner.configure(HARDCODED_RUNNER_CONFIG_TEXT)
        with pytest.raises(TransportError) as caught:
            await runner.get_treatment_for_request({}, UNIT_PAYLOAD)
        assert_failed_on_the_transport(caught.value)
        await plugin.process.wait()
    finally:
        await plugin.close()
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.name == "turnout.plugin" and r.levelno == logging.ERROR
    ]
    assert any(message.startswith("panic: ") for message in errors)
    assert any(message.startswith("goroutine ") for message in errors)


async def test_non_loopback_tcp_handshake_is_refused_without_dialing(tmp_path: Path) -> None:
    binary = tmp_path / "plugin"
    binary.write_text("#!/bin/sh\necho '1|1|tcp|10.1.2.3:80|netrpc|'\nexec sleep 60\n")
    binary.chmod(0o755)
    with pytest.raises(ProtocolError, match="only loopback addresses are dialed"):
        await PluginClient.start(PluginConfig(path=str(binary)))


async def test_python_plugin_over_loopback_tcp() -> None:
    config = python_plugin("noisy_plugin.py", env={"PLUGIN_TRANSPORT": "tcp"})
    async with await PluginClient.start(config) as plugin:
        assert plugin.process.handshake is not None
        assert plugin.process.handshake.network == "tcp"
        assert plugin.process.handshake.address.startswith("127.0.0.1:")
        runner = await plugin.runner()
        assert (await runner.get_treatment_for_request({}, b"{}")).name == "control"


async def test_unparseable_log_lines_do_not_stop_the_log_pump() -> None:
    plugin = await PluginClient.start(python_plugin("deep_log_plugin.py", call_timeout=10))
    try:
        manager = await plugin.manager()
        for _ in range(3):  # every call writes the line; the pipe must keep draining
            assert (await manager.get_engine_info()).name == "deep"
    finally:
        code = await asyncio.wait_for(plugin.close(), 30)
    assert code == 0


async def test_banner_then_flood_is_refused_without_hanging() -> None:
    with pytest.raises(ProtocolError, match="unrecognized remote plugin message: 'starting up...'"):
        await asyncio.wait_for(PluginClient.start(python_plugin("flood_after_banner.py")), 30)


async def test_concurrent_closes_all_wait_for_the_exit(gopeers: GoPeers) -> None:
    plugin = await PluginClient.start(PluginConfig(path=str(gopeers.hardcoded_plugin)))
    codes = await asyncio.gather(plugin.close(), plugin.close(), plugin.close())
    assert codes == [0, 0, 0]
    assert plugin.process.exited
