"""Plugin stderr lines (hclog JSON or plain text) turned into log records (pure parsing).

go-plugin hosts read a plugin's stderr line by line: JSON lines in hclog's
format carry a level, message, timestamp and key/values; plain lines may start
with `[LEVEL]`; anything else is debug output.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Final

_LEVELS: Final = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_PREFIX: Final = re.compile(r"^\[(TRACE|DEBUG|INFO|WARN|ERROR)\]\s?")
# hclog's layout: exactly six fractional digits, then Z or +hh:mm.
_TIMESTAMP: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True, slots=True)
class PluginLogLine:
    level: int
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


def parse_log_line(line: str) -> PluginLogLine:
    """Classify one stderr line the way go-plugin's host does."""
    text = line.rstrip("\r\n")
    if text.startswith("{"):
        parsed = _parse_json(text)
        if parsed is not None:
            return parsed
    match = _PREFIX.match(text)
    if match:
        return PluginLogLine(_LEVELS[match.group(1).lower()], text[match.end() :])
    return PluginLogLine(logging.DEBUG, text)


def _parse_json(text: str) -> PluginLogLine | None:
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError):  # deeply nested JSON raises RecursionError
        return None
    if not isinstance(entry, dict):
        return None
    timestamp = entry.get("@timestamp")
    if not isinstance(timestamp, str) or not _TIMESTAMP.match(timestamp):
        return None
    level = _LEVELS.get(str(entry.get("@level", "")).lower())
    if level is None:
        return PluginLogLine(logging.DEBUG, text)
    fields = {
        key: value
        for key, value in entry.items()
        if key not in ("@message", "@level", "@timestamp")
    }
    fields["timestamp"] = timestamp
    return PluginLogLine(level, str(entry.get("@message", "")), fields)


class StderrClassifier:
    """`parse_log_line` plus one piece of state: after a Go panic, everything is an error.

    A crashing Go plugin prints `panic: ...` or `fatal error: ...` and then its
    goroutine dump as plain lines; without this they would all be debug noise.
    """

    def __init__(self) -> None:
        self.crashed = False

    def classify(self, line: str) -> PluginLogLine:
        parsed = parse_log_line(line)
        if line.startswith(("panic: ", "fatal error: ")):
            self.crashed = True
        if self.crashed and parsed.level < logging.ERROR and not parsed.fields:
            return PluginLogLine(logging.ERROR, parsed.message)
        return parsed
