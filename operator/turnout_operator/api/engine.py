"""The `ExperimentEngine` custom resource (`experimentengines.turnout.dev`): status models.

One cluster-scoped object per configured engine, named after it, written only by
the operator: what the engine's plugin says about itself (`GetEngineInfo`), its
health, and for standard engines the catalogue a user picks an experiment from
(clients without their passkeys, experiments and their variants, variables).
It has no spec: the engines are configured in the operator's values.

The CRD in `crds/experimentengines.turnout.dev.yaml` is generated from
these models (`turnout_operator.api.engine_crd`).

Pure: no I/O, no Kubernetes client.
"""

from __future__ import annotations

from typing import Final

from pydantic import Field

from turnout_operator.api.router import GROUP, VERSION, Condition
from turnout_router.config import Model

KIND: Final = "ExperimentEngine"
PLURAL: Final = "experimentengines"
SINGULAR: Final = "experimentengine"
SHORT_NAMES: Final = ("xe",)
API_VERSION: Final = f"{GROUP}/{VERSION}"

MAX_ITEMS: Final = 200
"""Most clients, experiments, variants per experiment and variables per list kept in one object."""

MAX_STATUS_BYTES: Final = 256 * 1024
"""Most bytes of status JSON: far below etcd's 1.5 MiB object limit, cheap to watch and list."""

_TEXT: Final = 253
"""Longest id, name or type kept; longer strings are cut (Kubernetes names have the same bound)."""


class EngineInfo(Model):
    """What the plugin's GetEngineInfo says about the engine."""

    name: str = Field(default="", max_length=_TEXT)
    display_name: str = Field(default="", max_length=_TEXT)
    type: str = Field(default="", max_length=_TEXT, description="standard or custom.")
    home_page_url: str = Field(
        default="", max_length=2048, description="Standard engines: the engine's own UI."
    )


class EngineClient(Model):
    """A client of a standard engine. Its passkey is a secret and is never shown."""

    id: str = Field(max_length=_TEXT)
    username: str = Field(default="", max_length=_TEXT)


class EngineVariant(Model):
    name: str = Field(max_length=_TEXT)


class EngineExperiment(Model):
    """An experiment a Router's experiment config can name."""

    id: str = Field(max_length=_TEXT)
    name: str = Field(default="", max_length=_TEXT)
    client_id: str = Field(default="", max_length=_TEXT)
    variants: list[EngineVariant] = Field(default_factory=list, max_length=MAX_ITEMS)


class EngineVariable(Model):
    """A variable an experiment needs from each request (Turing's manager.Variable)."""

    name: str = Field(max_length=_TEXT)
    required: bool = False
    type: str = Field(default="", max_length=_TEXT, description="unit, filter or unsupported.")


class EngineVariables(Model):
    experiment: dict[str, list[EngineVariable]] = Field(
        default_factory=dict,
        description="By experiment id: the variables each listed experiment needs.",
    )


class EngineStatus(Model):
    """What the operator observed of one configured engine; written only by the operator."""

    engine_info: EngineInfo | None = Field(
        default=None, description="The plugin's GetEngineInfo, from its last start."
    )
    plugin_image: str = Field(
        default="", max_length=1024, description="The image the plugin binary comes from."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=8,
        description="Ready: the operator's copy of the plugin runs and answers its pings.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    last_ping: str | None = Field(
        default=None,
        description=(
            "RFC 3339 time the plugin last answered, as of the last status write. The status "
            "is written only when something in it changes, so an old time with Ready=True "
            "still means healthy: a failed ping turns Ready False within one liveness period."
        ),
    )
    restarts: int = Field(
        default=0, ge=0, description="Times this operator process restarted the plugin."
    )
    clients: list[EngineClient] | None = Field(
        default=None,
        max_length=MAX_ITEMS,
        description="Standard engines: ListClients, by id, without passkeys.",
    )
    experiments: list[EngineExperiment] | None = Field(
        default=None,
        max_length=MAX_ITEMS,
        description="Standard engines: ListExperiments, by id.",
    )
    experiment_count: int | None = Field(
        default=None, ge=0, description="How many experiments the engine listed (all of them)."
    )
    variables: EngineVariables | None = Field(
        default=None, description="Standard engines: ListVariablesForExperiments."
    )
    truncated: bool = Field(
        default=False, description="true when the engine listed more than fits in this object."
    )
    catalogue_message: str = Field(
        default="",
        max_length=1024,
        description="What was left out or could not be listed, and why.",
    )
    refreshed_at: str | None = Field(
        default=None, description="RFC 3339 time the catalogue shown was read from the plugin."
    )
