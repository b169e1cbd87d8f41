"""The router process's settings: the only module of the router that reads the environment.

The router config (routes, engine, timeouts) comes from the file the operator
writes; these are the facts about where this process runs. Each field is an
environment variable (no prefix for ROUTER_CONFIG_FILE, which the operator's
Deployment sets; `ROUTER_` for the rest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RouterSettings(BaseSettings):
    """How this router process runs."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore", frozen=True)

    config_file: Path = Field(
        description="The router config file (router.yaml from the version's ConfigMap)."
    )
    host: str = Field(
        default="0.0.0.0",
        description="Address to listen on; all interfaces in a pod, 127.0.0.1 in tests.",
    )
    port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Overrides the config's server.port (0: any free port, printed at start).",
    )
    drain_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "After SIGTERM, how long the router keeps serving (readiness failing, each "
            "keep-alive connection told `Connection: close`) before it stops accepting: the "
            "time kube-proxy on every node takes to stop sending it new connections "
            "(docs/router.md, 'Graceful termination')."
        ),
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        description=(
            "After the drain, how long in-flight requests may take to finish. Drain plus "
            "grace stay below the pod's terminationGracePeriodSeconds (30) so the plugin is "
            "stopped before SIGKILL."
        ),
    )
    access_log: bool = Field(
        default=False,
        description=(
            "One JSON line per request (id, route, status, latency; never the payload). Off by "
            "default: at tens of thousands of requests a second it costs a tenth of the CPU."
        ),
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="uvloop (libuv) measured faster here; asyncio's own loop for comparison.",
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
    keepalive_seconds: float = Field(
        default=75.0,
        gt=0,
        description="An idle caller connection is closed after this long (nginx's default).",
    )
    header_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "A request's whole head (request line and headers) must arrive within this long of "
            "its first byte, or of the connection's start; else 408 and the connection closes "
            "(nginx's client_header_timeout, 60s). Bytes trickling in do not extend it."
        ),
    )
    body_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "A request's whole body must arrive within this long of its head; else 408 and the "
            "connection closes (bounds the body as a whole, unlike nginx's per-read "
            "client_body_timeout of 60s)."
        ),
    )
    max_connections: int = Field(
        default=4096,
        ge=1,
        description=(
            "Open caller connections one worker keeps; past it, a new connection is closed at "
            "once without a response (a reset). Idle keep-alive connections are closed first to "
            "make room."
        ),
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Worker processes, each with its own plugin (the operator sets it from the "
            "container's CPU limit, else its CPU request). Unset: the container's CPU limit "
            "from its cgroup rounded up, else the CPUs this process may run on."
        ),
    )
    worker_index: int | None = Field(
        default=None,
        ge=0,
        description="Set by the router's parent process for each worker; not for users.",
    )
    state_dir: Path | None = Field(
        default=None,
        description="Set by the router's parent process for each worker; not for users.",
    )
    termination_log: Path = Field(
        default=Path("/dev/termination-log"),
        description=(
            "Where a router that cannot start writes why (Kubernetes' terminationMessagePath; "
            "the kubelet puts it in the container's terminated state). Skipped when absent."
        ),
    )


def load_settings() -> RouterSettings:
    return RouterSettings()  # type: ignore[call-arg]  # required fields come from the environment
