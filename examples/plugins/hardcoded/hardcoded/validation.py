"""ValidateExperimentConfig of Turing's standard experiment manager, with its exact messages.

Turing's BaseStandardExperimentManager checks a router's experiment config in
this order, stopping at the first failure:

1. the engine must have a standard manager config:
   "Missing Standard Engine configuration";
2. the config must decode (Go's JSON error text);
3. with experiment selection enabled, at least one experiment:
   "Expected at least 1 experiment in the configuration", and with client
   selection also enabled, each experiment's client_id must equal client.id:
   "Client information does not match with the experiment";
4. struct validation (go-playground/validator) of the parts the engine uses:
   the variables always, the client with client selection, the experiments
   with experiment selection. Every failure is reported, one per line, as
   "Key: '<path>' Error:Field validation for '<field>' failed on the '<tag>' tag":

   - client: `ID`, `Username` required;
   - experiments[i]: `ID`, `Name` required;
   - variables.client_variables[i] and experiment_variables[id][i]: `Name`, `Type` required;
   - variables.config[i]: `Name` required; `Field` required when `Required` is
     true (tag `required_with`); `FieldSource` one of header, payload,
     prediction_context, any case (tag `field-src`).

Go visits the experiment_variables map in random order; here its keys are
visited in sorted order, so the text is reproducible.
"""

from __future__ import annotations

from typing import Final

from plugin_host.wire import Engine, Variable

from .config import TuringExperimentConfig, parse_experiment_config
from .gojson import EngineError

MISSING_STANDARD_CONFIG: Final = "Missing Standard Engine configuration"
NO_EXPERIMENTS: Final = "Expected at least 1 experiment in the configuration"
CLIENT_MISMATCH: Final = "Client information does not match with the experiment"

FIELD_SOURCES: Final = frozenset({"header", "payload", "prediction_context"})


# The only non-ASCII runes Go lowercases to ASCII letters.
_LOWER_SPECIAL: Final = {"\u0130": "i", "\u212a": "k"}


def _go_lower(text: str) -> str:
    """Go's strings.ToLower as far as comparing with ASCII words needs ("İ" lowers to "i")."""
    return "".join(ch.lower() if ch < "\x80" else _LOWER_SPECIAL.get(ch, ch) for ch in text)


def is_field_source(value: str) -> bool:
    """Turing's request.GetFieldSource accepts the value."""
    return _go_lower(value) in FIELD_SOURCES


def _error(namespace: str, field: str, tag: str) -> str:
    return (
        f"Key: '{namespace}{field}' Error:Field validation for '{field}' failed on the '{tag}' tag"
    )


def _check_variable(errors: list[str], namespace: str, variable: Variable) -> None:
    if variable.name == "":
        errors.append(_error(namespace, "Name", "required"))
    if variable.type == "":
        errors.append(_error(namespace, "Type", "required"))


def struct_errors(
    config: TuringExperimentConfig, *, client_selection: bool, experiment_selection: bool
) -> list[str]:
    """The validator's failures, in the order it finds them."""
    errors: list[str] = []
    top = "TuringExperimentConfig."
    if client_selection:
        if config.client.id == "":
            errors.append(_error(top + "Client.", "ID", "required"))
        if config.client.username == "":
            errors.append(_error(top + "Client.", "Username", "required"))
    if experiment_selection:
        for index, experiment in enumerate(config.experiments or []):
            namespace = f"{top}Experiments[{index}]."
            if experiment.id == "":
                errors.append(_error(namespace, "ID", "required"))
            if experiment.name == "":
                errors.append(_error(namespace, "Name", "required"))
    variables = config.variables
    for index, variable in enumerate(variables.client_variables or []):
        _check_variable(errors, f"{top}Variables.ClientVariables[{index}].", variable)
    experiment_variables = variables.experiment_variables or {}
    for key in sorted(experiment_variables, key=lambda key: key.encode("utf-8")):
        for index, variable in enumerate(experiment_variables[key] or []):
            _check_variable(
                errors, f"{top}Variables.ExperimentVariables[{key}][{index}].", variable
            )
    for index, variable_config in enumerate(variables.config or []):
        namespace = f"{top}Variables.Config[{index}]."
        if variable_config.name == "":
            errors.append(_error(namespace, "Name", "required"))
        if variable_config.required and variable_config.field == "":
            errors.append(_error(namespace, "Field", "required_with"))
        if not is_field_source(variable_config.field_source):
            errors.append(_error(namespace, "FieldSource", "field-src"))
    return errors


def validate_experiment_config(engine: Engine, data: bytes) -> None:
    """Raise EngineError with Turing's message unless the experiment config is valid."""
    standard = engine.standard_experiment_manager_config
    if standard is None:
        raise EngineError(MISSING_STANDARD_CONFIG)
    config = parse_experiment_config(data)
    if standard.experiment_selection_enabled:
        if not config.experiments:
            raise EngineError(NO_EXPERIMENTS)
        if standard.client_selection_enabled:
            for experiment in config.experiments:
                if experiment.client_id != config.client.id:
                    raise EngineError(CLIENT_MISMATCH)
    errors = struct_errors(
        config,
        client_selection=standard.client_selection_enabled,
        experiment_selection=standard.experiment_selection_enabled,
    )
    if errors:
        raise EngineError("\n".join(errors))
