"""The status of an `ExperimentEngine` object, from what its plugin answered.

Pure: the refresh loop (`engine_objects`) asks the plugin and hands the answers
here; this module decides what the object shows. Three rules live here:

* **Secrets stay out.** A client is shown as its id and username; its passkey is
  dropped, and every string of the status is scrubbed of every known secret (the
  passkeys the plugin listed and the engine options' secret-looking values), so
  a plugin that echoes a credential in an error message or an experiment name
  does not leak it either.
* **Bounded size.** At most `MAX_ITEMS` clients, experiments, variants per
  experiment and variables per experiment, strings cut at 253 characters, and
  at most `MAX_STATUS_BYTES` of JSON; past that, experiments are dropped from the
  end of their sorted list. `truncated: true` and
  `catalogueMessage` say what was left out; `experimentCount` stays the full count.
* **Stable output.** Lists are sorted by id, so a plugin that answers in map
  order (Go) gives the same status twice, and an unchanged engine costs no write
  (`comparable` leaves out the times that move on every refresh).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from plugin_host.wire import Client, Engine, Experiment, Variable
from turnout_operator.api.engine import MAX_ITEMS, MAX_STATUS_BYTES

HIDDEN: Final = "<hidden>"
MAX_TEXT: Final = 253
MAX_MESSAGE: Final = 1024

SECRET_KEY: Final = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)
"""Engine option keys whose string values are treated as secrets."""

MIN_SECRET_LENGTH: Final = 4
"""Shorter option values are not scrubbed: "true" or "1" would blank unrelated text."""


@dataclass(frozen=True)
class Health:
    """What the operator knows of the plugin process, without calling it."""

    running: bool
    last_error: str | None = None
    last_ping: float | None = None
    """Unix seconds of its last answer (start or ping)."""
    restarts: int = 0


@dataclass(frozen=True)
class Listing:
    """One refresh of a standard engine's catalogue; an error text where a call failed."""

    fetched_at: float
    clients: list[Client] | str
    experiments: list[Experiment] | str
    variables: dict[str, list[Variable]] | str | None = None
    """None: not asked (no experiments listed)."""


@dataclass(frozen=True)
class EngineFacts:
    """Everything one status is built from."""

    plugin_image: str
    health: Health
    info: Engine | None
    listing: Listing | None
    secrets: frozenset[str] = field(default_factory=frozenset)


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def option_secrets(options: Any) -> set[str]:
    """String values under secret-looking keys anywhere in the engine options."""
    found: set[str] = set()

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, secret or bool(SECRET_KEY.search(str(key))))
        elif isinstance(value, list):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            found.add(value)

    walk(options, False)
    return found


def listing_secrets(listing: Listing | None) -> set[str]:
    """The passkeys of the listed clients."""
    if listing is None or isinstance(listing.clients, str):
        return set()
    return {client.passkey for client in listing.clients if client.passkey}


def scrub(text: str, secrets: Iterable[str]) -> str:
    # Longest first, so a secret that contains another is hidden whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, HIDDEN)
    return text


def _scrub_all(value: Any, secrets: frozenset[str]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, list):
        return [_scrub_all(item, secrets) for item in value]
    if isinstance(value, dict):
        return {scrub(k, secrets): _scrub_all(v, secrets) for k, v in value.items()}
    return value


def _text(value: str, cut: list[str], what: str) -> str:
    if len(value) <= MAX_TEXT:
        return value
    if what not in cut:
        cut.append(what)
    return value[:MAX_TEXT]


def _size(status: Mapping[str, Any]) -> int:
    return len(json.dumps(status, separators=(",", ":")).encode())


def ready_condition(
    health: Health, previous: Mapping[str, Any] | None, now: float
) -> dict[str, Any]:
    """The Ready condition; its lastTransitionTime moves only when its status does."""
    if health.running:
        status, reason, message = "True", "PluginRunning", "the plugin is running and answers"
    else:
        status, reason = "False", "PluginDown"
        message = f"the plugin is not running: {health.last_error or 'starting'}"
    since = rfc3339(now)
    for condition in (previous or {}).get("conditions", []) or []:
        if condition.get("type") == "Ready" and condition.get("status") == status:
            since = condition.get("lastTransitionTime") or since
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "lastTransitionTime": since,
    }


def _catalogue(listing: Listing) -> tuple[dict[str, Any], list[str], bool]:
    """Clients, experiments and variables as shown, the notes on what is missing, truncated."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    cut: list[str] = []
    truncated = False

    if isinstance(listing.clients, str):
        notes.append(f"ListClients: {listing.clients}")
    else:
        clients = sorted(listing.clients, key=lambda c: (c.id, c.username))
        if len(clients) > MAX_ITEMS:
            notes.append(f"showing {MAX_ITEMS} of {len(clients)} clients")
            truncated = True
        out["clients"] = [
            {"id": _text(c.id, cut, "ids"), "username": _text(c.username, cut, "names")}
            for c in clients[:MAX_ITEMS]
        ]

    if isinstance(listing.experiments, str):
        notes.append(f"ListExperiments: {listing.experiments}")
    else:
        experiments = sorted(listing.experiments, key=lambda e: (e.id, e.name))
        out["experimentCount"] = len(experiments)
        if len(experiments) > MAX_ITEMS:
            notes.append(f"showing {MAX_ITEMS} of {len(experiments)} experiments")
            truncated = True
        shown: list[dict[str, Any]] = []
        for experiment in experiments[:MAX_ITEMS]:
            variants = experiment.variants or []
            if len(variants) > MAX_ITEMS and "variants" not in cut:
                cut.append("variants")
            shown.append(
                {
                    "id": _text(experiment.id, cut, "ids"),
                    "name": _text(experiment.name, cut, "names"),
                    "clientId": _text(experiment.client_id, cut, "ids"),
                    "variants": [
                        {"name": _text(v.name, cut, "names")} for v in variants[:MAX_ITEMS]
                    ],
                }
            )
        out["experiments"] = shown

    if isinstance(listing.variables, str):
        notes.append(f"ListVariablesForExperiments: {listing.variables}")
    elif listing.variables is not None:
        ids = {e["id"] for e in out.get("experiments", [])}
        by_experiment: dict[str, list[dict[str, Any]]] = {}
        for key in sorted(listing.variables):
            short = _text(key, cut, "ids")
            if short not in ids:
                continue
            variables = listing.variables[key] or []
            if len(variables) > MAX_ITEMS and "variables" not in cut:
                cut.append("variables")
            by_experiment[short] = [
                {
                    "name": _text(v.name, cut, "names"),
                    "required": bool(v.required),
                    "type": _text(v.type, cut, "types"),
                }
                for v in variables[:MAX_ITEMS]
            ]
        out["variables"] = {"experiment": by_experiment}

    if cut:
        truncated = True
        notes.append(f"cut to {MAX_ITEMS} items or {MAX_TEXT} characters: {', '.join(cut)}")
    return out, notes, truncated


def _fit(status: dict[str, Any], notes: list[str]) -> bool:
    """Drop experiments from the end until the status fits; True if any went.

    Experiments are the only part that can outgrow the bound: 200 clients of two
    253-character strings are about 110 KB, and variables go with their experiments.
    """
    if _size(status) <= MAX_STATUS_BYTES:
        return False
    items = status["experiments"]
    keep = len(items)
    while keep > 0 and _size(status) > MAX_STATUS_BYTES:
        keep = keep * 3 // 4
        status["experiments"] = items[:keep]
        if "variables" in status:
            kept = {e["id"] for e in status["experiments"]}
            experiment_vars = status["variables"]["experiment"]
            status["variables"] = {
                "experiment": {k: v for k, v in experiment_vars.items() if k in kept}
            }
    notes.append(
        f"showing {keep} of {len(items)} experiments: the object is kept under "
        f"{MAX_STATUS_BYTES // 1024} KiB"
    )
    return True


def build_status(
    facts: EngineFacts, previous: Mapping[str, Any] | None, now: float
) -> dict[str, Any]:
    """The whole `status` of the ExperimentEngine object (camelCase JSON)."""
    status: dict[str, Any] = {"pluginImage": facts.plugin_image}
    if facts.info is not None:
        info = facts.info
        standard = info.standard_experiment_manager_config
        status["engineInfo"] = {
            "name": info.name[:MAX_TEXT],
            "displayName": info.display_name[:MAX_TEXT],
            "type": info.type[:MAX_TEXT],
            "homePageUrl": (standard.home_page_url if standard else "")[:2048],
        }
    status["conditions"] = [ready_condition(facts.health, previous, now)]
    if facts.health.last_ping is not None:
        status["lastPing"] = rfc3339(facts.health.last_ping)
    status["restarts"] = facts.health.restarts
    notes: list[str] = []
    truncated = False
    if facts.listing is not None:
        catalogue, notes, truncated = _catalogue(facts.listing)
        status.update(catalogue)
        status["refreshedAt"] = rfc3339(facts.listing.fetched_at)
        truncated = _fit(status, notes) or truncated
    status["truncated"] = truncated
    status["catalogueMessage"] = "; ".join(notes)[:MAX_MESSAGE]
    secrets = frozenset(facts.secrets | listing_secrets(facts.listing))
    scrubbed: dict[str, Any] = _scrub_all(status, secrets)
    return scrubbed


def comparable(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The status without the times that move on every refresh: equal means no write."""
    if status is None:
        return None
    kept = {k: v for k, v in status.items() if k not in ("lastPing", "refreshedAt")}
    kept["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in status.get("conditions", []) or []
    ]
    return kept
