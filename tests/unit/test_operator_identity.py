"""The operator's kopf identity needs no passwd entry.

The image runs as uid 65532, which has no line in /etc/passwd, and a pod sets no
USER: kopf's default identity (`getpass.getuser()`) raises KeyError there and the
operator pod crash-looped. The options handed to kopf carry the Lease identity
instead (the real pod is started as uid 65532 in tests/realnode).
"""

from __future__ import annotations

import asyncio
import getpass
import inspect
import pwd

import kopf
import pytest
from kopf._core.engines import peering

from turnout_operator.runtime.lifecycle import _kopf_options
from turnout_operator.runtime.settings import OperatorSettings

pytestmark = pytest.mark.unit


def _no_passwd_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a container running as an unknown uid sees."""

    def getpwuid(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", getpwuid)
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(KeyError):
        getpass.getuser()  # the failure the pod saw, reproduced


def _settings(monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    monkeypatch.setenv("TURNOUT_DATABASE_URL", "postgresql://x@y/z")
    monkeypatch.setenv("POD_NAME", "turnout-operator-7d9c-abcde")
    monkeypatch.delenv("TURNOUT_POD_NAME", raising=False)
    return OperatorSettings()  # type: ignore[call-arg]


def test_kopf_is_given_the_lease_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch)
    assert _kopf_options(settings, None)["identity"] == settings.identity()
    assert settings.identity().startswith("turnout-operator-7d9c-abcde_")


def test_kopf_takes_the_identity_and_would_otherwise_ask_for_the_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # kopf.operator passes `identity` on to spawn_tasks, which calls detect_own_id only
    # when it is None; detect_own_id is what fails on a uid with no passwd entry.
    settings = _settings(monkeypatch)
    options = _kopf_options(settings, asyncio.Event())
    assert set(options) <= set(inspect.signature(kopf.operator).parameters)
    assert "identity" in inspect.signature(kopf.spawn_tasks).parameters
    _no_passwd_entry(monkeypatch)
    monkeypatch.delenv("POD_ID", raising=False)
    with pytest.raises(KeyError):
        peering.detect_own_id(manual=False)
