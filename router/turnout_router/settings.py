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


def load_settings() -> RouterSettings:
    return RouterSettings()  # type: ignore[call-arg]  # required fields come from the environment
