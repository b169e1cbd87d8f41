"""The operator's kopf identity needs no passwd entry.

The image runs as uid 65532, which has no line in /etc/passwd, and a pod sets no
USER: kopf's default identity (`getpass.getuser()`) raises KeyError there and the
operator pod crash-looped. The options handed to kopf carry the Lease identity
instead; these tests start kopf's tasks with every user lookup failing as on that
node.
"""

from __future__ import annotations

import asyncio
import getpass
import pwd

import kopf
import pytest

from turnout_operator.lifecycle import _kopf_options
from turnout_operator.settings import OperatorSettings

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


async def test_kopf_starts_without_a_passwd_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch)
    _no_passwd_entry(monkeypatch)
    options = _kopf_options(settings, asyncio.Event())
    options.pop("liveness_endpoint")
    tasks = await kopf.spawn_tasks(**options)
    try:
        assert tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
