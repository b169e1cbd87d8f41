"""The router parent's check that the plugin binary is the one its version was validated
with. Digests are computed here with hashlib over bytes the test wrote, not by the module."""

from __future__ import annotations

import hashlib
from pathlib import Path

from turnout_router.config import EngineRuntime
from turnout_router.integrity import moved_plugin, write_termination_message

BINARY = b"#!/bin/sh\necho plugin\n"


def runtime(path: Path, digest: str | None) -> EngineRuntime:
    return EngineRuntime(
        name="hardcoded", plugin_binary=str(path), runner_config={}, plugin_sha256=digest
    )


def test_the_validated_binary_passes(tmp_path: Path) -> None:
    plugin = tmp_path / "hardcoded"
    plugin.write_bytes(BINARY)
    assert moved_plugin(runtime(plugin, hashlib.sha256(BINARY).hexdigest())) is None


def test_another_binary_is_named_with_both_digests(tmp_path: Path) -> None:
    plugin = tmp_path / "hardcoded"
    plugin.write_bytes(BINARY + b"# rebuilt\n")
    validated = hashlib.sha256(BINARY).hexdigest()
    found = hashlib.sha256(BINARY + b"# rebuilt\n").hexdigest()
    message = moved_plugin(runtime(plugin, validated))
    assert message is not None
    assert found in message and validated in message and str(plugin) in message
    assert message.index(found) < message.index(validated)  # found first, then validated


def test_no_digest_no_engine_or_no_file_is_not_a_moved_plugin(tmp_path: Path) -> None:
    plugin = tmp_path / "hardcoded"
    plugin.write_bytes(BINARY)
    assert moved_plugin(None) is None
    assert moved_plugin(runtime(plugin, None)) is None
    # A missing binary is the plugin host's to report (the fallback route serves meanwhile).
    assert moved_plugin(runtime(tmp_path / "missing", "ab" * 32)) is None


def test_the_termination_message_goes_only_to_a_file_that_exists(tmp_path: Path) -> None:
    present = tmp_path / "termination-log"
    present.write_text("")
    write_termination_message(present, "why")
    assert present.read_text() == "why"
    absent = tmp_path / "absent"
    write_termination_message(absent, "why")
    assert not absent.exists()
