"""The plugin's verdict at `kubectl apply`: what the validating webhook decides for a Router.

The API server calls the operator's webhook (`/validate-router`) on every CREATE
and UPDATE of a Router. The decision runs the same checks a reconcile pass runs
first, with the same messages, so a user sees at apply time what the Router's
`ConfigValid` condition would say a moment later:

1. the spec models (`RouterSpec`, the name rules): only matters when the
   installed CRD is older than the operator, since the CRD checks the same rules;
2. the engine exists (`spec.experimentEngine.type` is `nop` or configured);
3. the engine's plugin accepts the experiment config
   (`ValidateExperimentConfig`); its refusal is returned with the plugin's own
   message, scrubbed of the engine options' secret-looking values.

What is not checked, and why:

* an UPDATE that leaves the spec as it was (labels, annotations, kopf's
  finalizer and bookkeeping, deletion): always allowed, so a Router that got in
  while the webhook was off can still be edited, finalized and deleted;
* an UPDATE that leaves `spec.experimentEngine` as it was: the spec is checked,
  the plugin is not asked again;
* a plugin that is down, slow (`PLUGIN_TIMEOUT`) or failing: allowed with an
  admission warning (kubectl prints it), because the reconcile pass asks the
  plugin again and reports `ConfigValid=False` if it refuses. This is the same
  choice as the chart's default `failurePolicy: Ignore` for an operator that is
  down: applies never wait on a plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from pydantic import ValidationError

from plugin_host import ManagerClient, PluginError, RemoteError
from turnout_operator.api.router import RouterSpec, name_problems
from turnout_operator.engines.catalogue import scrub
from turnout_operator.engines.registry import EngineRegistry
from turnout_operator.reconcile.reconciler import describe_validation_error
from turnout_operator.reconcile.verdicts import config_rejected_message, unknown_engine_message
from turnout_router.config import NOP_ENGINE

log = logging.getLogger(__name__)

WEBHOOK_ID: Final = "validate-router"
"""kopf's handler id; kopf's server routes `/<id>`, so this is also the URL path."""

PLUGIN_TIMEOUT: Final = 5.0
"""Seconds ValidateExperimentConfig may take at admission: half the webhook's 10 s timeout,
so the operator answers (with a warning) before the API server gives up on it."""


@dataclass(frozen=True)
class Admission:
    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()


ALLOWED: Final = Admission(True)


def _spec(body: Mapping[str, Any] | None) -> Any:
    return (body or {}).get("spec")


def spec_problems(body: Mapping[str, Any]) -> tuple[RouterSpec | None, str]:
    """The parsed spec, or what is wrong with it (and with the name), in reconcile's words."""
    problems = name_problems(str(body.get("metadata", {}).get("name", "")))
    try:
        spec = RouterSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        problems.append(describe_validation_error(error))
        return None, "; ".join(problems)
    return (None, "; ".join(problems)) if problems else (spec, "")


async def review_router(
    operation: str | None,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    engines: EngineRegistry,
) -> Admission:
    """Allow or refuse one CREATE or UPDATE of a Router."""
    if new is None or operation not in ("CREATE", "UPDATE"):
        return ALLOWED
    if new.get("metadata", {}).get("deletionTimestamp"):
        return ALLOWED
    if operation == "UPDATE" and _spec(old) == _spec(new):
        return ALLOWED
    spec, problems = spec_problems(new)
    if spec is None:
        return Admission(False, problems)
    engine_type = spec.experiment_engine.type
    if engine_type == NOP_ENGINE:
        return ALLOWED
    handle = engines.get(engine_type)
    if handle is None:
        return Admission(False, unknown_engine_message(engine_type, engines.names()))
    old_engine = (_spec(old) or {}).get("experimentEngine") if operation == "UPDATE" else None
    if old_engine is not None and old_engine == (_spec(new) or {}).get("experimentEngine"):
        return ALLOWED
    not_checked = (
        f"engine {engine_type!r} could not check spec.experimentEngine.config now "
        "({why}); the operator checks it when it reconciles the Router (see its "
        "ConfigValid condition)"
    )
    if not handle.is_running():
        last_error = scrub(handle.last_error or "starting", handle.secrets)
        why = f"its plugin is not running: {last_error}"
        return Admission(True, warnings=(not_checked.format(why=why),))
    try:
        manager = await handle.manager()
        quick = ManagerClient(manager.rpc, timeout=PLUGIN_TIMEOUT)
        await quick.validate_experiment_config(cast(Any, spec.experiment_engine.config))
    except RemoteError as error:
        message = scrub(error.message, handle.secrets)
        return Admission(False, config_rejected_message(engine_type, message))
    except PluginError as error:
        why = scrub(str(error), handle.secrets)
        log.warning(
            "admission: engine plugin did not answer", extra={"engine": engine_type, "error": why}
        )
        return Admission(True, warnings=(not_checked.format(why=why),))
    return ALLOWED
