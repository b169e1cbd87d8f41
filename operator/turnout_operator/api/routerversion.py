"""The `RouterVersion` custom resource (`routerversions.turnout.dev`): a read-only mirror.

Postgres is the system of record for router versions; the operator mirrors the
newest of them (`TURNOUT_VERSION_MIRROR_LIMIT` per Router) as RouterVersion
objects so that users can read them with kubectl under Kubernetes' own access
control, without database credentials. The operator owns every field (field
manager `turnout`) and puts back any object that is deleted or edited.

The object's name is `<router>-v<N>`, it is labelled `turnout.dev/router=<router>`
and owned by its Router (garbage-collected with it). Everything is in `spec`:
the object has no status of its own.

Pure: no I/O, no Kubernetes client.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field, JsonValue

from turnout_router.config import Model

ROUTER_VERSION_KIND: Final = "RouterVersion"
ROUTER_VERSION_PLURAL: Final = "routerversions"
ROUTER_VERSION_SINGULAR: Final = "routerversion"
ROUTER_VERSION_SHORT_NAMES: Final = ("rtv",)


class EngineSnapshot(Model):
    """The version's experiment engine part, as recorded when the version was made."""

    type: str = Field(description="The engine's name (or nop).")
    plugin_image: str | None = Field(
        default=None, description="The plugin image the version's router pods run."
    )
    plugin_sha256: str | None = Field(
        default=None,
        description=(
            "SHA-256 of the plugin binary that validated the version; its router pods start "
            "only that binary."
        ),
    )
    config: JsonValue = Field(
        default=None,
        description="The experiment config as given in the Router spec (absent when large).",
    )
    config_hash: str | None = Field(
        default=None,
        description="SHA-256 of the experiment config's canonical JSON, when it is too large to mirror.",
    )
    config_size: int | None = Field(
        default=None, description="Size in bytes of the experiment config's canonical JSON."
    )
    runner_config: JsonValue = Field(
        default=None,
        description="The runner config the engine's manager returned (absent when large).",
    )
    runner_config_hash: str | None = Field(
        default=None,
        description="SHA-256 of the runner config's canonical JSON, when it is too large to mirror.",
    )
    runner_config_size: int | None = Field(
        default=None, description="Size in bytes of the runner config's canonical JSON."
    )


class RouterVersionSpec(Model):
    """One recorded router version, mirrored from the versions database."""

    router: str = Field(description="The Router this version belongs to.")
    version: int = Field(ge=1, description="The version number: 1, 2, 3, ... per Router.")
    status: str = Field(description="pending, deployed, failed or undeployed.")
    error: str | None = Field(default=None, description="Why the rollout failed, when it did.")
    created_at: str = Field(description="When the version was recorded (RFC 3339).")
    updated_at: str = Field(
        description=(
            "When its status last changed (RFC 3339): for an undeployed version, when it "
            "stopped serving."
        )
    )
    router_spec: JsonValue = Field(
        description="The Router spec the version was made from (without spec.suspend)."
    )
    experiment_engine: EngineSnapshot = Field(description="The engine part of the version.")
    change: str = Field(description="What changed from the previous version, in one line.")
