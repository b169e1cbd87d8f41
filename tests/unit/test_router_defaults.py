"""The chart's router defaults (router.resources) as the operator reads them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from turnout_operator.runtime.operator import build_settings
from turnout_operator.runtime.settings import OperatorSettings

pytestmark = pytest.mark.unit


def settings(**values: Any) -> OperatorSettings:
    url = SecretStr("postgresql+psycopg://u:p@db/turnout")
    return OperatorSettings(database_url=url, **values)


def test_router_resources_are_unset_by_default() -> None:
    assert settings().router_resources is None
    assert build_settings(settings()).default_resources is None


def test_numeric_quantities_become_text_and_reach_the_build_settings() -> None:
    # Helm renders `cpu: 1` from YAML as a number; Kubernetes takes it, so must we.
    given = {"requests": {"cpu": 1, "memory": "256Mi"}, "limits": {"cpu": 1.5}}
    chosen = settings(router_resources=given)
    expected = {"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"cpu": "1.5"}}
    assert chosen.router_resources == expected
    assert build_settings(chosen).default_resources == expected


def test_a_boolean_is_not_a_quantity() -> None:
    with pytest.raises(ValueError, match="router_resources"):
        settings(router_resources={"requests": {"cpu": True}})
