"""Tables as kubectl prints them, from RouterVersion and ExperimentEngine objects.

Pure: objects in, lines out; "now" is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

NONE: Final = "<none>"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(then: datetime | None, now: datetime) -> str:
    """kubectl's short age: 45s, 3m10s, 5h, 2d3h, 400d (shown as <unknown> when unknown)."""
    if then is None:
        return "<unknown>"
    seconds = max(0, int((now - then.astimezone(UTC)).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if days < 2:
        return f"{hours}h"
    if days < 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    return f"{days}d"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns three spaces apart, headers in capitals, no trailing blanks."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in [list(headers), *[list(r) for r in rows]]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def newest_first(versions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(versions, key=lambda v: int(_spec(v).get("version", 0)), reverse=True)


def versions_table(
    versions: Sequence[Mapping[str, Any]],
    deployed: int | None,
    now: datetime,
    wide: bool = False,
) -> str:
    """`kubectl turnout versions`: newest first; `*` marks the version that serves."""
    headers = ["DEPLOYED", "VERSION", "STATUS", "ENGINE", "AGE", "CHANGE"]
    if wide:
        headers += ["PLUGIN IMAGE", "ERROR"]
    rows = []
    for version in newest_first(versions):
        spec = _spec(version)
        engine = spec.get("experimentEngine") or {}
        row = [
            "*" if spec.get("version") == deployed else "",
            str(spec.get("version", "")),
            str(spec.get("status", "")),
            str(engine.get("type", "")),
            age(parse_time(spec.get("createdAt")), now),
            str(spec.get("change", "")),
        ]
        if wide:
            row += [str(engine.get("pluginImage") or NONE), str(spec.get("error") or NONE)]
        rows.append(row)
    return table(headers, rows)


def _ready(engine: Mapping[str, Any]) -> str:
    for condition in (engine.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status", "Unknown"))
    return "Unknown"


def engines_table(engines: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """`kubectl turnout engines`."""
    rows = []
    for engine in sorted(engines, key=lambda e: str(e.get("metadata", {}).get("name", ""))):
        status = engine.get("status") or {}
        info = status.get("engineInfo") or {}
        listed = len(status.get("experiments") or [])
        # experimentCount: all the engine has, when the list is cut short.
        experiments = int(status.get("experimentCount", listed))
        rows.append(
            [
                str(engine.get("metadata", {}).get("name", "")),
                str(info.get("type") or NONE),
                _ready(engine),
                f"{experiments}+"
                if status.get("truncated") and "experimentCount" not in status
                else str(experiments),
                str(len(status.get("clients") or [])),
                age(parse_time(status.get("lastPing")), now) if status.get("lastPing") else NONE,
                age(parse_time(engine.get("metadata", {}).get("creationTimestamp")), now),
            ]
        )
    return table(["NAME", "TYPE", "READY", "EXPERIMENTS", "CLIENTS", "LAST PING", "AGE"], rows)


def experiments_of(engine: Mapping[str, Any], client: str | None = None) -> list[dict[str, Any]]:
    """The engine's experiments (only those of `client` when given), each with its variables."""
    status = engine.get("status") or {}
    variables = (status.get("variables") or {}).get("experiment") or {}
    found = []
    for experiment in status.get("experiments") or []:
        if client is not None and str(experiment.get("clientId", "")) != client:
            continue
        found.append({**experiment, "variables": variables.get(str(experiment.get("id")), [])})
    return found


def experiments_table(experiments: Sequence[Mapping[str, Any]]) -> str:
    """`kubectl turnout experiments ENGINE`."""
    rows = []
    for experiment in experiments:
        variants = [str(v.get("name", "")) for v in experiment.get("variants") or []]
        variables = [str(v.get("name", "")) for v in experiment.get("variables") or []]
        rows.append(
            [
                str(experiment.get("id", "")),
                str(experiment.get("name", "")),
                str(experiment.get("clientId") or NONE),
                ",".join(variants) or NONE,
                ",".join(variables) or NONE,
            ]
        )
    return table(["ID", "NAME", "CLIENT", "VARIANTS", "VARIABLES"], rows)


def clients_table(engine: Mapping[str, Any]) -> str:
    """`kubectl turnout clients ENGINE` (ids and usernames; passkeys never reach the object)."""
    status = engine.get("status") or {}
    counts: dict[str, int] = {}
    for experiment in status.get("experiments") or []:
        key = str(experiment.get("clientId", ""))
        counts[key] = counts.get(key, 0) + 1
    rows = [
        [str(c.get("id", "")), str(c.get("username") or NONE), str(counts.get(str(c.get("id")), 0))]
        for c in status.get("clients") or []
    ]
    return table(["ID", "USERNAME", "EXPERIMENTS"], rows)
