"""A rollback brings back a version's pods, not its scale: the Router's scale stays."""

from __future__ import annotations

import pytest

from turnout_kubectl.rollback import SCALE_FIELDS, target_spec
from turnout_operator.builders.desired import SCALING_FIELDS

pytestmark = pytest.mark.unit

VERSION = {"routes": [{"id": "a"}], "fallbackRoute": "a", "timeout": "3s"}


def test_the_live_scale_is_kept() -> None:
    live = {**VERSION, "timeout": "9s", "replicas": 4}
    assert target_spec(VERSION, live) == {**VERSION, "replicas": 4}
    auto = {"autoscaling": {"maxReplicas": 5}}
    assert target_spec(VERSION, {**VERSION, **auto}) == {**VERSION, **auto}


def test_a_scale_recorded_in_an_old_version_is_not_brought_back() -> None:
    old = {**VERSION, "replicas": 7}
    assert target_spec(old, {"replicas": 2}) == {**VERSION, "replicas": 2}
    assert target_spec(old, {}) == VERSION


def test_the_plugin_and_the_operator_agree_on_what_the_scale_is() -> None:
    assert SCALE_FIELDS == SCALING_FIELDS
