"""The spec's numbers and booleans are refused in other types, as the CRD refuses them.

The CRD declares `integer` and `boolean`; pydantic's default would coerce "3",
true or "yes" and deploy them from a Router made under a CRD that checks nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from turnout_operator.api import RouterSpec
from turnout_operator.reconcile.reconciler import describe_validation_error

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {
    "routes": [{"id": "a", "endpoint": "http://a/x"}],
    "fallbackRoute": "a",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"replicas": "3"}, "spec.replicas"),
        ({"replicas": False}, "spec.replicas"),
        ({"replicas": 2.0}, "spec.replicas"),
        ({"autoscaling": {"maxReplicas": "4"}}, "spec.autoscaling.maxReplicas"),
        ({"autoscaling": {"maxReplicas": 4, "minReplicas": True}}, "spec.autoscaling.minReplicas"),
        (
            {"autoscaling": {"maxReplicas": 4, "targetCpuUtilizationPercentage": "50"}},
            "spec.autoscaling.targetCpuUtilizationPercentage",
        ),
        ({"suspend": "yes"}, "spec.suspend"),
        ({"suspend": 1}, "spec.suspend"),
    ],
)
def test_other_types_are_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        RouterSpec.model_validate({**BASE, **change})
    assert describe_validation_error(error.value).startswith(f"{field}: ")


def test_the_declared_types_are_accepted() -> None:
    spec = RouterSpec.model_validate(
        {**BASE, "autoscaling": {"maxReplicas": 4, "minReplicas": 2}, "suspend": True}
    )
    assert (spec.autoscaling and spec.autoscaling.min_replicas, spec.suspend) == (2, True)
