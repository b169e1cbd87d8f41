"""Turing's experiment engine wire types, as Python dataclasses with gob schemas.

Field names on the wire are Go's (gob matches struct fields by name); the
Python attributes are their snake_case forms. JSON documents (engine options,
experiment configs, runner configs, treatment configs) travel as raw bytes,
like Go's json.RawMessage.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

from plugin_host import gob
from plugin_host.gob import Field as F

# Plugin names in go-plugin's plugin map, and Turing's handshake.
MANAGER_PLUGIN: Final = "experiment_manager"
RUNNER_PLUGIN: Final = "experiment_runner"
MAGIC_COOKIE_KEY: Final = "EXPERIMENTS_PLUGIN"
MAGIC_COOKIE_VALUE: Final = "turing"
PROTOCOL_VERSION: Final = 1


# -- manager ---------------------------------------------------------------


@dataclass(slots=True)
class StandardExperimentManagerConfig:
    client_selection_enabled: bool = False
    experiment_selection_enabled: bool = False
    home_page_url: str = ""


@dataclass(slots=True)
class RemoteUI:
    name: str = ""
    url: str = ""
    config: str = ""


@dataclass(slots=True)
class CustomExperimentManagerConfig:
    remote_ui: RemoteUI = field(default_factory=RemoteUI)
    experiment_config_schema: str = ""


@dataclass(slots=True)
class Engine:
    name: str = ""
    display_name: str = ""
    type: str = ""  # "standard" | "custom"
    standard_experiment_manager_config: StandardExperimentManagerConfig | None = None
    custom_experiment_manager_config: CustomExperimentManagerConfig | None = None


@dataclass(slots=True)
class Client:
    id: str = ""
    username: str = ""
    passkey: str = ""


@dataclass(slots=True)
class Variant:
    name: str = ""


@dataclass(slots=True)
class Experiment:
    id: str = ""
    name: str = ""
    client_id: str = ""
    variants: list[Variant] = field(default_factory=list)


@dataclass(slots=True)
class Variable:
    name: str = ""
    required: bool = False
    type: str = ""  # "unsupported" | "unit" | "filter"


# -- runner ----------------------------------------------------------------


@dataclass(slots=True)
class GetTreatmentOptions:
    turing_request_id: str = ""


@dataclass(slots=True)
class GetTreatmentRequest:
    header: dict[str, list[str]] | None = None
    payload: bytes = b""
    # None encodes as absent, like header: the codec accepts both (compiled code checks).
    options: GetTreatmentOptions | None = field(default_factory=GetTreatmentOptions)


@dataclass(slots=True)
class Treatment:
    experiment_name: str = ""
    name: str = ""
    config: bytes = b""  # raw JSON


# -- metrics callbacks (runner plugin -> host) -----------------------------


@dataclass(slots=True)
class MeasureDurationMsSinceRequest:
    key: str = ""
    starttime: dt.datetime = gob.ZERO_TIME
    labels: dict[str, str] | None = None


@dataclass(slots=True)
class RecordGaugeRequest:
    key: str = ""
    value: float = 0.0
    labels: dict[str, str] | None = None


@dataclass(slots=True)
class IncRequest:
    key: str = ""
    labels: dict[str, str] | None = None


@dataclass(slots=True)
class Metric:
    name: str = ""
    type: str = ""  # "gauge" | "histogram" | "counter"
    description: str = ""
    labels: list[str] = field(default_factory=list)
    buckets: list[float] = field(default_factory=list)


# -- gob schemas -------------------------------------------------------------

STRING_MAP: Final = gob.Map(gob.STRING, gob.STRING)

STANDARD_CONFIG: Final = gob.Struct(
    "StandardExperimentManagerConfig",
    (
        F("ClientSelectionEnabled", gob.BOOL, "client_selection_enabled"),
        F("ExperimentSelectionEnabled", gob.BOOL, "experiment_selection_enabled"),
        F("HomePageURL", gob.STRING, "home_page_url"),
    ),
    StandardExperimentManagerConfig,
)
REMOTE_UI: Final = gob.Struct(
    "RemoteUI",
    (F("Name", gob.STRING, "name"), F("URL", gob.STRING, "url"), F("Config", gob.STRING, "config")),
    RemoteUI,
)
CUSTOM_CONFIG: Final = gob.Struct(
    "CustomExperimentManagerConfig",
    (
        F("RemoteUI", REMOTE_UI, "remote_ui"),
        F("ExperimentConfigSchema", gob.STRING, "experiment_config_schema"),
    ),
    CustomExperimentManagerConfig,
)
ENGINE: Final = gob.Struct(
    "Engine",
    (
        F("Name", gob.STRING, "name"),
        F("DisplayName", gob.STRING, "display_name"),
        F("Type", gob.STRING, "type"),
        F(
            "StandardExperimentManagerConfig",
            STANDARD_CONFIG,
            "standard_experiment_manager_config",
            pointer=True,
        ),
        F(
            "CustomExperimentManagerConfig",
            CUSTOM_CONFIG,
            "custom_experiment_manager_config",
            pointer=True,
        ),
    ),
    Engine,
)
CLIENT: Final = gob.Struct(
    "Client",
    (
        F("ID", gob.STRING, "id"),
        F("Username", gob.STRING, "username"),
        F("Passkey", gob.STRING, "passkey"),
    ),
    Client,
)
VARIANT: Final = gob.Struct("Variant", (F("Name", gob.STRING, "name"),), Variant)
EXPERIMENT: Final = gob.Struct(
    "Experiment",
    (
        F("ID", gob.STRING, "id"),
        F("Name", gob.STRING, "name"),
        F("ClientID", gob.STRING, "client_id"),
        F("Variants", gob.Slice(VARIANT), "variants"),
    ),
    Experiment,
)
VARIABLE: Final = gob.Struct(
    "Variable",
    (
        F("Name", gob.STRING, "name"),
        F("Required", gob.BOOL, "required"),
        F("Type", gob.STRING, "type"),
    ),
    Variable,
)
CLIENTS: Final = gob.Slice(CLIENT)
EXPERIMENTS: Final = gob.Slice(EXPERIMENT)
VARIABLES: Final = gob.Slice(VARIABLE)
VARIABLES_BY_EXPERIMENT: Final = gob.Map(gob.STRING, VARIABLES)

GET_TREATMENT_OPTIONS: Final = gob.Struct(
    "GetTreatmentOptions",
    (F("TuringRequestID", gob.STRING, "turing_request_id"),),
    GetTreatmentOptions,
)


def _encode_get_treatment_request_fields(out: bytearray, value: GetTreatmentRequest) -> None:
    # A router sends one per request; see gob.Struct.encode_fields. Zero values are left out,
    # a non-nil map is sent even when empty, the nested Options struct always.
    last = -1
    header = value.header
    if header is not None:
        out.append(1)
        gob.encode_uint(out, len(header))
        for key, values in header.items():
            gob.encode_string(out, key)
            items = values or ()  # as the generic encoder treats a nil slice
            if len(items) == 1:
                out.append(1)  # nearly every header has one value
            else:
                gob.encode_uint(out, len(items))
            for item in items:
                gob.encode_string(out, item)
        last = 0
    payload = value.payload
    if payload:
        gob.encode_uint(out, 1 - last)
        gob.encode_bytes(out, bytes(payload))
        last = 1
    options = value.options
    if options is not None:
        gob.encode_uint(out, 2 - last)
        request_id = options.turing_request_id
        if request_id:
            out.append(1)
            gob.encode_string(out, request_id)
        out.append(0)
    out.append(0)


GET_TREATMENT_REQUEST_FIELDS: Final = (
    F("Header", gob.Map(gob.STRING, gob.Slice(gob.STRING), "Header"), "header"),
    F("Payload", gob.BYTES, "payload"),
    F("Options", GET_TREATMENT_OPTIONS, "options"),
)
GET_TREATMENT_REQUEST: Final = gob.Struct(
    "GetTreatmentRequest",
    GET_TREATMENT_REQUEST_FIELDS,
    GetTreatmentRequest,
    encode_fields=_encode_get_treatment_request_fields,
)
TREATMENT: Final = gob.Struct(
    "Treatment",
    (
        F("ExperimentName", gob.STRING, "experiment_name"),
        F("Name", gob.STRING, "name"),
        F("Config", gob.BYTES, "config"),
    ),
    Treatment,
)

MEASURE_DURATION_REQUEST: Final = gob.Struct(
    "MeasureDurationMsSinceRequest",
    (
        F("Key", gob.STRING, "key"),
        F("Starttime", gob.TIME, "starttime"),
        F("Labels", STRING_MAP, "labels"),
    ),
    MeasureDurationMsSinceRequest,
)
RECORD_GAUGE_REQUEST: Final = gob.Struct(
    "RecordGaugeRequest",
    (
        F("Key", gob.STRING, "key"),
        F("Value", gob.FLOAT, "value"),
        F("Labels", STRING_MAP, "labels"),
    ),
    RecordGaugeRequest,
)
INC_REQUEST: Final = gob.Struct(
    "IncRequest", (F("Key", gob.STRING, "key"), F("Labels", STRING_MAP, "labels")), IncRequest
)
METRIC: Final = gob.Struct(
    "Metric",
    (
        F("Name", gob.STRING, "name"),
        F("Type", gob.STRING, "type"),
        F("Description", gob.STRING, "description"),
        F("Labels", gob.Slice(gob.STRING), "labels"),
        F("Buckets", gob.Slice(gob.FLOAT), "buckets"),
    ),
    Metric,
)
METRICS: Final = gob.Slice(METRIC)
BROKER_IDS: Final = gob.Slice(gob.UINT)
EMPTY: Final = gob.Struct("", ())
