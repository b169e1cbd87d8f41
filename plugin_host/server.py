"""The plugin side: make a Python program a go-plugin net/rpc plugin.

`serve(manager=..., runner=...)` does what go-plugin's `plugin.Serve` does for
a Go plugin, so Turing's Go host (or Turnout's) can load it: check the magic
cookie, listen on a unix socket, print the handshake line, accept the host's
yamux session (control, stdout and stderr streams, then the broker), answer
`Control.Ping`, `Control.Quit` and `Dispenser.Dispense`, and serve the
dispensed plugins on broker streams. Logs go to stderr as hclog JSON lines,
which go-plugin hosts turn back into leveled log entries. The process exits on
Quit, and also when the host goes away (go-plugin would leave it running).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn

from plugin_host import gob, wire
from plugin_host.broker import MuxBroker
from plugin_host.errors import TransportError
from plugin_host.handshake import Handshake, format_handshake, negotiate_version
from plugin_host.netrpc import Method, MethodError, RpcServer
from plugin_host.turing import ExperimentManager, ExperimentRunner, manager_methods, runner_methods
from plugin_host.yamux import Session

log = logging.getLogger(__name__)

NOT_A_PLUGIN_MESSAGE = (
    "This binary is a plugin. These are not meant to be executed directly.\n"
    "Please execute the program that consumes these plugins, which will\n"
    "load any plugins automatically\n"
)

PluginFactory = Callable[[MuxBroker], dict[str, Method]]

_LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR")


class HclogFormatter(logging.Formatter):
    """One JSON object per line in hclog's format, which go-plugin hosts parse."""

    _LEVELS: ClassVar[dict[int, str]] = {
        logging.DEBUG: "debug",
        logging.INFO: "info",
        logging.WARNING: "warn",
        logging.ERROR: "error",
        logging.CRITICAL: "error",
    }
    _STANDARD: ClassVar[set[str]] = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry: dict[str, Any] = {
            "@level": self._LEVELS.get(record.levelno, "info"),
            "@message": record.getMessage(),
            "@module": record.name,
            "@timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD:
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_plugin_logging(level: int = logging.INFO) -> None:
    """Send this process's logs to stderr as hclog JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HclogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def serve(
    *,
    manager: ExperimentManager | None = None,
    runner: ExperimentRunner | None = None,
    log_level: int = logging.INFO,
) -> NoReturn:
    """Run this program as an experiment engine plugin; never returns."""
    plugins: dict[str, PluginFactory] = {}
    if manager is not None:
        plugins[wire.MANAGER_PLUGIN] = lambda broker: manager_methods(manager)
    if runner is not None:
        plugins[wire.RUNNER_PLUGIN] = lambda broker: runner_methods(runner, broker)
    serve_plugins(plugins, log_level=log_level)


def serve_plugins(
    plugins: dict[str, PluginFactory],
    *,
    cookie_key: str = wire.MAGIC_COOKIE_KEY,
    cookie_value: str = wire.MAGIC_COOKIE_VALUE,
    versions: tuple[int, ...] = (wire.PROTOCOL_VERSION,),
    log_level: int = logging.INFO,
) -> NoReturn:
    """Serve any set of net/rpc plugins under a handshake; never returns.

    The plugin listens on a unix socket, or on a loopback TCP port when the
    environment says `PLUGIN_TRANSPORT=tcp` (go-plugin's transport on Windows).
    """
    if os.environ.get(cookie_key) != cookie_value:
        sys.stderr.write(NOT_A_PLUGIN_MESSAGE)
        sys.stderr.flush()
        raise SystemExit(1)
    version = negotiate_version(os.environ.get("PLUGIN_PROTOCOL_VERSIONS", ""), versions)
    if version is None:
        version = min(versions)  # go-plugin falls back to its lowest version
    # An operator can turn up a plugin's logging without rebuilding it.
    override = os.environ.get("TURNOUT_PLUGIN_LOG_LEVEL", "").upper()
    configure_plugin_logging(
        logging.getLevelName(override) if override in _LEVEL_NAMES else log_level
    )
    # Like go-plugin: a Ctrl-C aimed at the host must not kill its plugins first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = asyncio.run(_serve(plugins, version))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _serve(plugins: dict[str, PluginFactory], version: int) -> int:
    loop = asyncio.get_running_loop()
    connected: asyncio.Future[Session] = loop.create_future()

    def accept_one() -> asyncio.Protocol:
        if connected.done():
            # Only the host that read our handshake may connect; refuse the rest.
            refused = asyncio.Protocol()
            refused.connection_made = lambda transport: transport.close()  # type: ignore[method-assign]
            return refused
        session = Session(client=False)
        connected.set_result(session)
        return session

    directory = ""
    if os.environ.get("PLUGIN_TRANSPORT") == "tcp":
        server = await loop.create_server(accept_one, "127.0.0.1", 0)
        network, address = "tcp", f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    else:
        directory = tempfile.mkdtemp(
            prefix="plugin", dir=os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or None
        )
        os.chmod(directory, 0o700)
        address = os.path.join(directory, "plugin.sock")
        server = await loop.create_unix_server(accept_one, address)
        os.chmod(address, 0o600)
        network = "unix"
    log.debug("plugin address", extra={"address": address, "network": network})
    line = format_handshake(Handshake(1, version, network, address, "netrpc", ""))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    try:
        session = await connected
        return await _run_session(session, plugins)
    finally:
        server.close()
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


async def _run_session(session: Session, plugins: dict[str, PluginFactory]) -> int:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    broker = MuxBroker(session)
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coroutine: Any) -> None:
        task = loop.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def ping(_: Any) -> dict[str, Any]:
        return {}

    async def quit_(_: Any) -> dict[str, Any]:
        # Answer first, then stop: the reply must reach the host before we exit.
        loop.call_later(0.05, done.set)
        return {}

    async def dispense(name: Any) -> int:
        factory = plugins.get(name)
        if factory is None:
            raise MethodError(f"unknown plugin type: {name}")
        stream_id = broker.next_id()
        methods = factory(broker)

        async def serve_dispensed() -> None:
            try:
                stream = await broker.accept(stream_id)
            except TransportError as exc:
                log.warning(
                    "dispensed plugin was never connected",
                    extra={"plugin": name, "error": str(exc)},
                )
                return
            server = RpcServer()
            server.register("Plugin", methods)
            await server.serve(stream)

        spawn(serve_dispensed())
        return stream_id

    control = RpcServer()
    control.register(
        "Control",
        {"Ping": Method(gob.BOOL, wire.EMPTY, ping), "Quit": Method(gob.BOOL, wire.EMPTY, quit_)},
    )
    control.register("Dispenser", {"Dispense": Method(gob.STRING, gob.UINT, dispense)})
    try:
        control_stream = await session.accept_stream()
        # stdout and stderr streams: go-plugin copies output there; we log to the real stderr.
        await session.accept_stream()
        await session.accept_stream()
    except TransportError:
        return 1
    spawn(control.serve(control_stream))
    spawn(broker.run())
    closed = loop.create_task(session.wait_closed())
    stopping = loop.create_task(done.wait())
    await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if closed.done() and not done.is_set():
        log.info("host connection closed, exiting")
    for task in (*tasks, closed, stopping):
        task.cancel()
    session.close()
    return 0
