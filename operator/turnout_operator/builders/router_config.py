"""The router config file of one Router version, and the hash that rolls its pods.

The file is everything a router pod needs to serve without asking the operator
or a manager plugin anything: the routing rules copied from the spec, the
engine's plugin path and the runner config the manager returned.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import JsonValue

from turnout_operator.api.router import RouterSpec
from turnout_operator.builders.inputs import BuildSettings, EngineDeployment, RouterIdentity
from turnout_router.config import (
    NOP_ENGINE,
    EngineRuntime,
    RouterConfig,
    RoutingRules,
    ServerConfig,
    dump_router_config,
)


def build_router_config(
    identity: RouterIdentity,
    spec: RouterSpec,
    version: int,
    engine: EngineDeployment | None,
    runner_config: JsonValue,
    settings: BuildSettings,
) -> RouterConfig:
    """The config of `version` of the Router; `engine` is None for the nop engine.

    Raises ValueError when `engine` does not match spec.experimentEngine.type: the
    router would otherwise run a plugin other than the one the user asked for.
    """
    engine_type = spec.experiment_engine.type
    if engine is None and engine_type != NOP_ENGINE:
        raise ValueError(f"engine {engine_type!r} of the spec needs an EngineDeployment")
    if engine is not None and engine.name != engine_type:
        raise ValueError(f"engine {engine.name!r} given for a spec with engine {engine_type!r}")
    # Every routing field, by the shared model's own field list, so a field added
    # to RoutingRules reaches the router without a change here.
    rules = {field: getattr(spec, field) for field in RoutingRules.model_fields}
    runtime = (
        None
        if engine is None
        else EngineRuntime(
            name=engine.name,
            plugin_binary=f"{settings.plugins_dir}/{engine.name}",
            liveness_period_seconds=engine.liveness_period_seconds,
            runner_config=runner_config,
            plugin_sha256=engine.plugin_sha256,
            # Unset in the spec: the router's own default budget.
            **(
                {"timeout": spec.experiment_engine.timeout}
                if spec.experiment_engine.timeout is not None
                else {}
            ),
        )
    )
    return RouterConfig(
        **rules,
        router=f"{identity.namespace}/{identity.name}",
        version=version,
        experiment_engine=runtime,
        server=ServerConfig(port=settings.container_port, timeout=spec.timeout),
    )


def config_hash(config: RouterConfig) -> str:
    """SHA-256 (hex) of the config's canonical JSON: equal configs, equal hashes.

    Keys are sorted so that the order in which a plugin returned its runner
    config's keys does not roll the pods.
    """
    canonical = json.dumps(
        dump_router_config(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
