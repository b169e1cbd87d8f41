"""The host side: start a plugin, connect, dispense, call, ping and shut it down.

`PluginClient.start(config)` gives a connected plugin. `manager()` and
`runner()` dispense Turing's two plugin kinds. `close()` follows go-plugin's
sequence (Quit, close the session, wait `kill_grace`, SIGKILL). A client whose
process died or whose connection broke stays broken (`failure` says why); the
caller starts a fresh one, as argo-rollouts does with its plugins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Self

from plugin_host import gob, wire
from plugin_host.broker import MuxBroker
from plugin_host.errors import CallTimeoutError, PluginError, TransportError
from plugin_host.handshake import loopback_tcp_address
from plugin_host.netrpc import RpcClient
from plugin_host.process import PluginConfig, PluginProcess, start_process
from plugin_host.turing_host import ManagerClient, RunnerClient
from plugin_host.yamux import Session, Stream, connect_tcp, connect_unix

log = logging.getLogger(__name__)

_QUIT_TIMEOUT = 2.0


class PluginClient:
    """A running, connected plugin."""

    def __init__(self, config: PluginConfig, process: PluginProcess, session: Session) -> None:
        self.config = config
        self.process = process
        self.session = session
        self.broker = MuxBroker(session)
        self._control: RpcClient | None = None
        self._output_streams: list[Stream] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: asyncio.Task[int | None] | None = None

    @classmethod
    async def start(cls, config: PluginConfig) -> Self:
        """Start the plugin binary and connect to it; raise `PluginStartError` if it cannot."""
        process = await start_process(config)
        assert process.handshake is not None
        try:
            if process.handshake.network == "tcp":
                host, port = loopback_tcp_address(process.handshake.address)
                session = await connect_tcp(host, port)
            else:
                session = await connect_unix(process.handshake.address)
            client = cls(config, process, session)
            await client._open_streams()
        except BaseException:
            await process.kill()
            raise
        # A dead process must fail every pending call at once, not at the next timeout.
        process.on_exit(lambda code: session.close())
        return client

    async def _open_streams(self) -> None:
        # Stream order is the protocol: 1 control, 3 stdout, 5 stderr, then the broker.
        control = await self.session.open_stream()
        for _ in range(2):
            stream = await self.session.open_stream()
            self._output_streams.append(stream)
            self._tasks.append(asyncio.get_running_loop().create_task(self._drain(stream)))
        self._control = RpcClient(control, name=self.config.display_name)
        self._tasks.append(asyncio.get_running_loop().create_task(self.broker.run()))

    async def _drain(self, stream: Stream) -> None:
        # go-plugin copies the plugin's os.Stdout/os.Stderr here; Turing discards them.
        with contextlib.suppress(TransportError):
            while await stream.read():
                pass

    @property
    def failure(self) -> str | None:
        """Why this plugin can no longer be used, or None while it is healthy."""
        if self.process.exited:
            return self.process.describe_exit()
        if self.session.closed:
            return f"connection to plugin {self.config.display_name!r} lost: {self.session.close_reason}"
        return None

    @property
    def control(self) -> RpcClient:
        if self._control is None:
            raise TransportError("plugin is not connected")
        return self._control

    async def ping(self, timeout: float = 5.0) -> None:
        """go-plugin's liveness check (Control.Ping)."""
        await self._checked(
            self.control.call("Control.Ping", gob.BOOL, True, wire.EMPTY, timeout=timeout)
        )

    async def dispense(self, name: str) -> RpcClient:
        """Ask the plugin for one of its plugin kinds and connect to it over the broker."""
        stream_id = await self._checked(
            self.control.call(
                "Dispenser.Dispense", gob.STRING, name, gob.UINT, timeout=self.config.call_timeout
            )
        )
        stream = await self._checked(self.broker.dial(stream_id))
        return RpcClient(stream, name=f"{self.config.display_name}/{name}")

    async def manager(self) -> ManagerClient:
        return ManagerClient(
            await self.dispense(wire.MANAGER_PLUGIN), timeout=self.config.call_timeout
        )

    async def runner(self) -> RunnerClient:
        return RunnerClient(
            await self.dispense(wire.RUNNER_PLUGIN), self.broker, timeout=self.config.call_timeout
        )

    async def _checked(self, call: Any) -> Any:
        try:
            return await call
        except TransportError as exc:
            failure = self.failure
            if failure and failure not in str(exc):
                raise TransportError(f"{exc} ({failure})") from exc
            raise

    async def close(self) -> int | None:
        """Quit politely, then make sure the process is gone. Returns its exit code.

        Safe to call more than once and from several tasks: all wait for the same shutdown.
        """
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._shutdown())
        return await asyncio.shield(self._closing)

    async def _shutdown(self) -> int | None:
        quit_ok = False
        if not self.process.exited and not self.session.closed:
            try:
                await self.control.call(
                    "Control.Quit", gob.BOOL, True, wire.EMPTY, timeout=_QUIT_TIMEOUT
                )
                quit_ok = True
            except CallTimeoutError:
                log.debug("plugin ignored Quit", extra={"plugin": self.config.display_name})
            except TransportError:
                # A Go plugin often exits before its Quit reply goes out: that is a yes.
                quit_ok = True
            except PluginError as exc:
                log.debug(
                    "plugin quit failed",
                    extra={"plugin": self.config.display_name, "error": str(exc)},
                )
        self.session.close()
        self.broker.close()
        for task in self._tasks:
            task.cancel()
        code = await self.process.kill(self.config.kill_grace if quit_ok else 0.0)
        return code

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
