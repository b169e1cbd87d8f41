"""The engines file: the experiment engines a platform team configured, in Helm's shape.

The file holds exactly what Helm's `experimentEngines` values hold (Turing's
`turing.experimentEngines` entries): `name`, `type: rpc-plugin`,
`rpcPlugin.image`, `rpcPlugin.livenessPeriodSeconds`, `options` and Turing's
`serviceAccountKeyFilePath`. A values file written for Turing's engines works
unchanged. `options` usually carries credentials (client passkeys): it is kept
as a `SecretOptions` whose repr hides the content, so it cannot leak through a
log line or a traceback by accident.

Pure: parsing and validation only.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from turnout_router.config import NOP_ENGINE

DEFAULT_LIVENESS_PERIOD_SECONDS: Final = 10
"""Turing's default for rpcPlugin.livenessPeriodSeconds."""


class EngineFileError(ValueError):
    """The engines file cannot be used; the message names the entry and field."""


class SecretOptions:
    """Engine options: handed to the plugin's Configure, never shown anywhere."""

    __slots__ = ("_value",)

    def __init__(self, value: JsonValue) -> None:
        self._value = value

    def reveal(self) -> JsonValue:
        """The options themselves, for the plugin call only."""
        return self._value

    def __repr__(self) -> str:
        return "SecretOptions(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretOptions) and other._value == self._value

    def __hash__(self) -> int:
        return hash(repr(self))


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",  # Turing's entries carry more keys than Turnout needs.
        arbitrary_types_allowed=True,
    )


class RpcPlugin(_Model):
    image: str = Field(min_length=1, description="Plugin image; its command copies the binary.")
    liveness_period_seconds: int = Field(default=DEFAULT_LIVENESS_PERIOD_SECONDS, ge=1)


class EngineConfig(_Model):
    """One configured experiment engine."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    type: Literal["rpc-plugin"] = "rpc-plugin"
    rpc_plugin: RpcPlugin
    options: SecretOptions = Field(default_factory=lambda: SecretOptions({}))
    service_account_key_file_path: str | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _hide(cls, value: Any) -> SecretOptions:
        return value if isinstance(value, SecretOptions) else SecretOptions(value)

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value == NOP_ENGINE:
            raise ValueError(f"{NOP_ENGINE!r} is the built-in engine; choose another name")
        return value


def parse_engines(text: str) -> list[EngineConfig]:
    """Engines from the file's text: a list, or a mapping with an `experimentEngines` list.

    Errors name the entry and the field but never echo a value: options may hold secrets.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise EngineFileError(f"engines file is not YAML or JSON: {error}") from None
    if data is None:
        return []
    if isinstance(data, dict):
        data = data.get("experimentEngines", [])
    if not isinstance(data, list):
        raise EngineFileError("engines file must hold a list of engines (experimentEngines)")
    engines: list[EngineConfig] = []
    for index, entry in enumerate(data):
        label = entry.get("name", f"#{index}") if isinstance(entry, dict) else f"#{index}"
        try:
            engines.append(EngineConfig.model_validate(entry))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or 'entry'}: {problem['msg']}"
                for problem in error.errors(include_input=False, include_url=False)
            )
            raise EngineFileError(f"engine {label!r}: {problems}") from None
    names = [engine.name for engine in engines]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise EngineFileError(f"engine names must be unique; repeated: {', '.join(duplicates)}")
    return engines
