"""What a Router should look like, from its spec or from a recorded version.

Pure. Two jobs:

* `version_draft` turns the current spec (plus the engine's image and the router
  image) into what identifies a version: equal inputs give an equal hash, so a
  spec equal to an earlier one reuses that version without asking the plugin again;
* `desired_objects` rebuilds the ConfigMap, Deployment, Service and
  HorizontalPodAutoscaler of any recorded version from its row alone — which is
  how a failed rollout is rolled back without a plugin call.

How many pods serve (`replicas`, `autoscaling`) is not part of a version: it is
the Deployment's business, not the pod template's. A change of scale alone makes no
new version and scales the Deployment in place, replacing no pod; the objects of any
version are built with the Router's current scale (`scaling_of`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import JsonValue

from turnout_operator.api import RouterSpec
from turnout_operator.api.engine_config import EngineConfig
from turnout_operator.builders import (
    BuildSettings,
    EngineDeployment,
    RouterIdentity,
    build_configmap,
    build_deployment,
    build_hpa,
    build_router_config,
    build_service,
    config_hash,
)


@dataclass(frozen=True)
class VersionInputs:
    """What identifies a version, and what its row holds."""

    config_hash: str
    spec: dict[str, Any]
    engine: dict[str, Any]
    """Engine type, plugin image and liveness period; the experiment and runner configs are added
    once the manager has answered."""
    router_image: str


SCALING_FIELDS: Final = ("replicas", "autoscaling")
"""Spec fields (camelCase, as in the CRD) that size the Deployment and change no pod."""


def spec_document(spec: RouterSpec) -> dict[str, Any]:
    """The spec as a version records it: camelCase JSON, without `suspend` and the scale
    (neither is a version change)."""
    return spec.model_dump(
        mode="json", by_alias=True, exclude={"suspend", *SCALING_FIELDS}, exclude_none=True
    )


def scaling_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The scale fields a Router's spec (camelCase, as read from the API) sets."""
    return {key: spec[key] for key in SCALING_FIELDS if spec.get(key) is not None}


def scaling_key(scaling: Mapping[str, Any] | None) -> str:
    """A scale as a short canonical string, for keys of what objects were built from."""
    if scaling is None:
        return "row"
    return json.dumps(scaling, sort_keys=True, separators=(",", ":"))


def version_inputs(
    spec: RouterSpec,
    engine: EngineConfig | None,
    router_image: str,
    plugin_sha256: str | None = None,
) -> VersionInputs:
    """`plugin_sha256`: the digest of the engine's plugin binary that will validate the
    version. Part of the hash: a new binary behind the same image reference makes a
    new version, validated by that binary, whose pods run only that binary."""
    document = spec_document(spec)
    engine_part: dict[str, Any] = {"type": spec.experiment_engine.type}
    if engine is not None:
        engine_part["pluginImage"] = engine.rpc_plugin.image
        engine_part["livenessPeriodSeconds"] = engine.rpc_plugin.liveness_period_seconds
        if plugin_sha256 is not None:
            engine_part["pluginSha256"] = plugin_sha256
    canonical = json.dumps(
        {"spec": document, "engine": engine_part, "routerImage": router_image},
        sort_keys=True,
        separators=(",", ":"),
    )
    return VersionInputs(
        config_hash=hashlib.sha256(canonical.encode()).hexdigest(),
        spec=document,
        engine=engine_part,
        router_image=router_image,
    )


def engine_document(
    inputs: VersionInputs, experiment_config: JsonValue, runner_config: JsonValue
) -> dict[str, Any]:
    """The `experiment_engine` column: the engine part plus the configs given and returned."""
    return {**inputs.engine, "config": experiment_config, "runnerConfig": runner_config}


@dataclass(frozen=True)
class DesiredObjects:
    configmap: dict[str, Any]
    deployment: dict[str, Any]
    service: dict[str, Any]
    hpa: dict[str, Any] | None
    config_hash: str


def desired_objects(
    identity: RouterIdentity,
    number: int,
    spec_doc: dict[str, Any],
    engine_doc: dict[str, Any],
    settings: BuildSettings,
    scaling: Mapping[str, Any] | None = None,
) -> DesiredObjects:
    """Every child object of one recorded version, from its row, at the Router's current
    scale (`scaling_of` its spec). `scaling` None keeps whatever scale the row recorded
    (rows made before the scale left versions had one)."""
    if scaling is not None:
        spec_doc = {
            **{key: value for key, value in spec_doc.items() if key not in SCALING_FIELDS},
            **scaling,
        }
    spec = RouterSpec.model_validate(spec_doc)
    engine = None
    if "pluginImage" in engine_doc:
        engine = EngineDeployment(
            name=str(engine_doc["type"]),
            plugin_image=str(engine_doc["pluginImage"]),
            liveness_period_seconds=float(engine_doc.get("livenessPeriodSeconds", 10)),
            plugin_sha256=engine_doc.get("pluginSha256"),
        )
    config = build_router_config(
        identity, spec, number, engine, engine_doc.get("runnerConfig"), settings
    )
    return DesiredObjects(
        configmap=build_configmap(identity, config),
        deployment=build_deployment(identity, spec, config, engine, settings),
        service=build_service(identity, settings),
        hpa=build_hpa(identity, spec.autoscaling) if spec.autoscaling is not None else None,
        config_hash=config_hash(config),
    )
