"""Starting and stopping a plugin process: checksum, environment, handshake, logs, kill.

This is the only module that creates plugin processes. Beyond go-plugin's own
behaviour it pins the binary's SHA-256 before exec, gives each plugin a private
0700 directory for its socket, can withhold the host's environment, and asks
the kernel to kill the plugin when the host dies (PR_SET_PDEATHSIG), so no
plugin outlives its host.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import hmac
import logging
import os
import shutil
import signal
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from plugin_host import wire
from plugin_host.errors import ChecksumMismatchError, PluginStartError, ProtocolError
from plugin_host.handshake import MAX_LINE_BYTES, Handshake, parse_handshake
from plugin_host.logs import StderrClassifier

log = logging.getLogger(__name__)
plugin_log = logging.getLogger("turnout.plugin")

_PR_SET_PDEATHSIG: Final = 1
_STDERR_TAIL_LINES: Final = 20


@dataclass(frozen=True, slots=True)
class PluginConfig:
    """How to start one plugin binary. Every field has a safe default but `path`."""

    path: str
    """The plugin executable."""
    name: str = ""
    """Name used in logs and errors; defaults to the file name."""
    args: tuple[str, ...] = ()
    """Extra command-line arguments (Turing passes none)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables for the plugin."""
    inherit_env: bool = True
    """Pass the host's environment to the plugin. Turn off to keep host secrets from it;
    the plugin then gets only PATH, the handshake variables and `env`."""
    sha256: str | None = None
    """Expected SHA-256 (hex) of the binary; checked before exec when set."""
    start_timeout: float = 60.0
    """Seconds to wait for the handshake line (go-plugin's default is one minute)."""
    call_timeout: float | None = 30.0
    """Default per-call deadline in seconds; go-plugin has none, a hung plugin would block forever."""
    kill_grace: float = 2.0
    """Seconds between a successful Quit and SIGKILL, as in go-plugin."""
    cookie_key: str = wire.MAGIC_COOKIE_KEY
    cookie_value: str = wire.MAGIC_COOKIE_VALUE
    app_versions: tuple[int, ...] = (wire.PROTOCOL_VERSION,)

    @property
    def display_name(self) -> str:
        return self.name or Path(self.path).name


def verify_checksum(path: str, expected_hex: str) -> None:
    """Raise `ChecksumMismatchError` unless the file's SHA-256 is `expected_hex`."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as binary:
            for block in iter(lambda: binary.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise PluginStartError(f"cannot read plugin binary {path}: {exc}") from exc
    actual = digest.hexdigest()
    if not hmac.compare_digest(actual, expected_hex.strip().lower()):
        raise ChecksumMismatchError(
            f"plugin binary {path} has SHA-256 {actual}, expected {expected_hex}; not started"
        )


def plugin_environment(config: PluginConfig, socket_dir: str) -> dict[str, str]:
    """The plugin's environment: the host's (or a bare one), then go-plugin's variables."""
    env = dict(os.environ) if config.inherit_env else {"PATH": os.defpath}
    env.update(config.env)
    env[config.cookie_key] = config.cookie_value
    env["PLUGIN_PROTOCOL_VERSIONS"] = ",".join(str(v) for v in config.app_versions)
    env["PLUGIN_MIN_PORT"] = "10000"
    env["PLUGIN_MAX_PORT"] = "25000"
    # go-plugin creates its socket in TMPDIR; point it at a directory only we can enter.
    env["TMPDIR"] = socket_dir
    env["PLUGIN_UNIX_SOCKET_DIR"] = socket_dir
    return env


# Resolved here, in the parent: loading a library between fork and exec can deadlock.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """What the child runs before exec: ask for SIGKILL when the host process dies."""

    def set_death_signal() -> None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)  # the host died before the request took effect

    return set_death_signal


class PluginProcess:
    """A started plugin process that has printed its handshake."""

    def __init__(
        self,
        config: PluginConfig,
        process: asyncio.subprocess.Process,
        socket_dir: str,
    ) -> None:
        self.config = config
        self.process = process
        self.pid = process.pid
        self.socket_dir = socket_dir
        self.handshake: Handshake | None = None
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._stderr_levels = StderrClassifier()
        self._pumps: list[asyncio.Task[None]] = []
        self._exit_callbacks: list[Callable[[int], None]] = []
        self._waiter: asyncio.Task[int] | None = None
        self._stdout_pumped = False

    @property
    def exited(self) -> bool:
        return self.process.returncode is not None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def on_exit(self, callback: Callable[[int], None]) -> None:
        self._exit_callbacks.append(callback)

    async def wait(self) -> int:
        assert self._waiter is not None
        return await asyncio.shield(self._waiter)

    async def kill(self, grace: float = 0.0) -> int:
        """Wait up to `grace` seconds for a voluntary exit, then SIGKILL; clean up."""
        if not self.exited and grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait(), grace)
        if not self.exited:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        self.drain_stdout()  # asyncio reports the exit only once every pipe is read to the end
        code = await self.wait()
        await self._drain_pumps()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        return code

    async def _drain_pumps(self) -> None:
        """Let the log pumps read what the exited process left in its pipes."""
        for pump in self._pumps:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(pump), 1.0)
            pump.cancel()

    def describe_exit(self, when: str = "") -> str:
        """Say how the process ended, with the last lines of its stderr."""
        tail = "; ".join(line for line in self.stderr_tail if line)[-2000:]
        text = f"plugin {self.config.display_name!r} exited with code {self.returncode}"
        if when:
            text = f"{text} {when}"
        return f"{text}; its stderr: {tail}" if tail else text

    # -- startup ------------------------------------------------------------

    async def _read_handshake(self) -> Handshake:
        assert self.process.stdout is not None
        reader = self.process.stdout
        buffer = bytearray()
        while b"\n" not in buffer:
            if len(buffer) > MAX_LINE_BYTES:
                raise ProtocolError(
                    f"plugin {self.config.display_name!r} printed a handshake line longer than {MAX_LINE_BYTES} bytes"
                )
            chunk = await reader.read(MAX_LINE_BYTES)
            if not chunk:
                await self.wait()
                await self._drain_pumps()
                raise PluginStartError(self.describe_exit("before completing the handshake"))
            buffer += chunk
        line, _, rest = bytes(buffer).partition(b"\n")
        if len(line) > MAX_LINE_BYTES:
            raise ProtocolError(
                f"plugin {self.config.display_name!r} printed a handshake line longer than {MAX_LINE_BYTES} bytes"
            )
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(
                f"plugin {self.config.display_name!r} printed a handshake line that is not UTF-8"
            ) from None
        handshake = parse_handshake(text, app_versions=self.config.app_versions)
        self._stdout_pumped = True
        self._pumps.append(
            asyncio.get_running_loop().create_task(self._pump(reader, "stdout", rest))
        )
        return handshake

    async def _pump(self, reader: asyncio.StreamReader, stream: str, pending: bytes = b"") -> None:
        """Turn each output line into a log record tagged with the plugin's name."""
        buffer = bytearray(pending)
        while True:
            while True:
                newline = buffer.find(b"\n")
                if newline < 0:
                    break
                self._emit_safely(stream, bytes(buffer[:newline]))
                del buffer[: newline + 1]
            if len(buffer) > MAX_LINE_BYTES:
                self._emit_safely(stream, bytes(buffer), fragment=True)
                buffer.clear()
            chunk = await reader.read(MAX_LINE_BYTES)
            if not chunk:
                if buffer:
                    self._emit_safely(stream, bytes(buffer))
                return
            buffer += chunk

    def _emit_safely(self, stream: str, raw: bytes, *, fragment: bool = False) -> None:
        # The pump must outlive any odd line: a pipe nobody reads blocks the plugin.
        try:
            self._emit(stream, raw, fragment=fragment)
        except Exception:
            log.debug("unreadable plugin output line", exc_info=True)

    def drain_stdout(self) -> None:
        """Keep reading stdout (discarding it) when the handshake reader gave up on it."""
        if self._stdout_pumped or self.process.stdout is None:
            return
        self._stdout_pumped = True
        self._pumps.append(
            asyncio.get_running_loop().create_task(self._pump(self.process.stdout, "stdout"))
        )

    def _emit(self, stream: str, raw: bytes, *, fragment: bool = False) -> None:
        text = raw.decode("utf-8", "replace")
        name = self.config.display_name
        if stream == "stderr":
            self.stderr_tail.append(text)
        if fragment or stream == "stdout":
            plugin_log.debug(text, extra={"plugin": name, "plugin_stream": stream})
            return
        parsed = self._stderr_levels.classify(text)
        plugin_log.log(
            parsed.level,
            parsed.message,
            extra={"plugin": name, "plugin_stream": stream, "plugin_fields": parsed.fields},
        )

    async def _watch(self) -> int:
        code = await self.process.wait()
        log.info(
            "plugin process exited",
            extra={"plugin": self.config.display_name, "code": code, "pid": self.pid},
        )
        for callback in self._exit_callbacks:
            callback(code)
        return code


async def start_process(config: PluginConfig) -> PluginProcess:
    """Verify, exec and handshake; on any failure the process is killed before raising."""
    if config.sha256:
        verify_checksum(config.path, config.sha256)
    if not os.access(config.path, os.X_OK):
        raise PluginStartError(f"plugin binary {config.path} does not exist or is not executable")
    socket_dir = tempfile.mkdtemp(prefix="turnout-plugin-")
    os.chmod(socket_dir, 0o700)
    try:
        process = await asyncio.create_subprocess_exec(
            config.path,
            *config.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=plugin_environment(config, socket_dir),
            preexec_fn=_die_with_parent(os.getpid()),
            limit=MAX_LINE_BYTES * 2,
        )
    except (OSError, ValueError) as exc:
        shutil.rmtree(socket_dir, ignore_errors=True)
        raise PluginStartError(f"cannot start plugin {config.display_name!r}: {exc}") from exc
    except BaseException:
        shutil.rmtree(socket_dir, ignore_errors=True)
        raise
    plugin = PluginProcess(config, process, socket_dir)
    loop = asyncio.get_running_loop()
    plugin._waiter = loop.create_task(plugin._watch())
    assert process.stderr is not None
    plugin._pumps.append(loop.create_task(plugin._pump(process.stderr, "stderr")))
    try:
        plugin.handshake = await asyncio.wait_for(plugin._read_handshake(), config.start_timeout)
    except TimeoutError:
        await plugin.kill()
        raise PluginStartError(
            f"plugin {config.display_name!r} printed no handshake within {config.start_timeout:g}s"
        ) from None
    except BaseException:
        await plugin.kill()
        raise
    return plugin
