"""When a child object on the server counts as changed, and when it does not.

The `actual` objects are shaped like what the API server returns for the
desired ones: defaults filled in, quantities in canonical form, status and
metadata added.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest

from turnout_operator.builders.drift import differs, parse_quantity

pytestmark = pytest.mark.unit

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "fraud-router", "namespace": "models", "labels": {"a": "1"}},
    "spec": {
        "replicas": 2,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "router",
                        "env": [{"name": "TMPDIR", "value": "/tmp"}],
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "livenessProbe": {"httpGet": {"path": "/live", "port": "http"}},
                        "resources": {
                            "requests": {"cpu": "1000m", "memory": "1024Mi"},
                            "limits": {"cpu": "0.5"},
                        },
                    }
                ],
                "volumes": [{"name": "plugins", "emptyDir": {}}],
            }
        },
    },
}

# What the API server returns after applying DESIRED.
ACTUAL: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "fraud-router",
        "namespace": "models",
        "labels": {"a": "1"},
        "annotations": {"deployment.kubernetes.io/revision": "1"},
        "uid": "u",
        "resourceVersion": "42",
        "generation": 1,
        "managedFields": [{"manager": "turnout", "operation": "Apply"}],
    },
    "spec": {
        "replicas": 2,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {
            "metadata": {"creationTimestamp": None},
            "spec": {
                "automountServiceAccountToken": False,
                "restartPolicy": "Always",
                "dnsPolicy": "ClusterFirst",
                "containers": [
                    {
                        "name": "router",
                        "env": [{"name": "TMPDIR", "value": "/tmp"}],
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "livenessProbe": {
                            "httpGet": {"path": "/live", "port": "http", "scheme": "HTTP"},
                            "timeoutSeconds": 1,
                            "periodSeconds": 10,
                        },
                        "resources": {
                            "requests": {"cpu": "1", "memory": "1Gi"},
                            "limits": {"cpu": "500m"},
                        },
                        "terminationMessagePath": "/dev/termination-log",
                    }
                ],
                "volumes": [{"name": "plugins", "emptyDir": {}}],
            },
        },
    },
    "status": {"replicas": 2},
}


def edited(
    path: tuple[str | int, ...], value: Any, base: dict[str, Any] = ACTUAL
) -> dict[str, Any]:
    """A copy of `base` with the value at `path` replaced (or removed, for value DELETE)."""
    result = copy.deepcopy(base)
    node: Any = result
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return result


DELETE = object()
CONTAINER = ("spec", "template", "spec", "containers", 0)


def test_a_missing_object_differs() -> None:
    assert differs(DESIRED, None)


def test_what_the_server_adds_and_normalizes_is_not_drift() -> None:
    assert not differs(DESIRED, ACTUAL)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "replicas"), 3),
        (("spec", "replicas"), DELETE),
        (("metadata", "labels", "a"), "2"),
        (("metadata", "labels"), DELETE),
        (("spec", "template", "spec", "automountServiceAccountToken"), True),
        ((*CONTAINER, "env", 0, "value"), "/var/tmp"),
        ((*CONTAINER, "env"), [{"name": "TMPDIR", "value": "/tmp"}, {"name": "X", "value": "1"}]),
        ((*CONTAINER, "env"), []),
        ((*CONTAINER, "env"), DELETE),
        ((*CONTAINER, "ports", 0, "containerPort"), 9090),
        ((*CONTAINER, "livenessProbe", "httpGet", "port"), "metrics"),
        ((*CONTAINER, "resources", "requests", "cpu"), "1001m"),
        ((*CONTAINER, "resources", "requests", "memory"), "1G"),
        ((*CONTAINER, "resources", "limits"), DELETE),
        (
            ("spec", "template", "spec", "volumes", 0),
            {"name": "plugins", "hostPath": {"path": "/"}},
        ),
        (("spec", "strategy", "rollingUpdate", "maxUnavailable"), "25%"),
        (("spec", "template", "spec", "containers"), {}),
    ],
    ids=lambda part: "/".join(map(str, part)) if isinstance(part, tuple) else None,
)
def test_an_edit_of_a_desired_field_is_drift(path: tuple[str | int, ...], value: Any) -> None:
    assert differs(DESIRED, edited(path, value))


def test_fields_only_the_server_set_may_change() -> None:
    actual = edited(("spec", "template", "spec", "dnsPolicy"), "Default")
    actual = edited(("metadata", "labels", "added-by-someone"), "x", actual)
    assert not differs(DESIRED, actual)


def test_booleans_are_not_numbers() -> None:
    assert differs({"replicas": 1}, {"replicas": True})
    assert differs({"replicas": 0}, {"replicas": False})
    assert differs({"suspend": False}, {"suspend": 0})
    assert differs({"suspend": True}, {"suspend": "true"})
    assert differs({"suspend": True}, {"suspend": "True"})
    assert not differs({"suspend": False}, {"suspend": False})


def test_int_or_string_fields_compare_by_value() -> None:
    assert not differs({"targetPort": 8080}, {"targetPort": "8080"})
    assert not differs({"targetPort": "8080"}, {"targetPort": 8080})
    assert differs({"targetPort": 8080}, {"targetPort": "http"})
    assert not differs({"averageUtilization": 1}, {"averageUtilization": 1.0})


def test_quantities_compare_as_numbers_only_where_they_are_quantities() -> None:
    assert not differs({"limits": {"cpu": 2}}, {"limits": {"cpu": "2"}})
    assert not differs({"emptyDir": {"sizeLimit": "1.5Gi"}}, {"emptyDir": {"sizeLimit": "1536Mi"}})
    target = {"type": "AverageValue", "averageValue": "0.1"}
    assert not differs({"target": target}, {"target": {**target, "averageValue": "100m"}})
    # Elsewhere the same text is just a string: an env value "1" is not "1000m".
    assert differs({"env": [{"value": "1000m"}]}, {"env": [{"value": "1"}]})
    assert differs({"labels": {"size": "1k"}}, {"labels": {"size": "1000"}})


def test_only_integers_equal_the_strings_of_their_digits() -> None:
    assert differs({"value": 0.5}, {"value": "0.5"})
    assert differs({"value": "0.5"}, {"value": 0.5})


def test_a_list_differs_from_anything_but_a_list() -> None:
    # Not even from a string or a map of the same length, element for element.
    assert differs({"command": ["a", "b"]}, {"command": "ab"})
    assert differs({"command": ["a"]}, {"command": {"a": 1}})
    assert differs({"command": ["a"]}, {"command": 1})


def test_empty_lists_equal_absent_ones_but_empty_maps_do_not() -> None:
    assert not differs({"spec": {"args": []}}, {"spec": {}})
    assert differs({"spec": {"emptyDir": {}}}, {"spec": {"hostPath": {"path": "/"}}})
    assert not differs({"spec": {"emptyDir": {}}}, {"spec": {"emptyDir": {"medium": ""}}})


def test_type_fields_are_compared_only_when_the_server_sent_them() -> None:
    item_of_a_list = {
        key: value for key, value in ACTUAL.items() if key not in ("apiVersion", "kind")
    }
    assert not differs(DESIRED, item_of_a_list)
    assert differs(DESIRED, edited(("apiVersion",), "apps/v1beta1"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Fraction(1)),
        ("1000m", Fraction(1)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("250m", Fraction(1, 4)),
        ("1Ki", Fraction(1024)),
        ("1Gi", Fraction(1024**3)),
        ("1.5Gi", Fraction(3 * 1024**3, 2)),
        ("1e3", Fraction(1000)),
        ("1E", Fraction(10**18)),
        ("1k", Fraction(1000)),
        ("1M", Fraction(10**6)),
        ("5n", Fraction(5, 10**9)),
        ("10u", Fraction(1, 10**5)),
        ("-2", Fraction(-2)),
    ],
)
def test_parse_quantity(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "m", "1 Gi", "1KI", "1.2.3", "1x", "http", "1e"])
def test_parse_quantity_rejects_what_is_not_a_quantity(text: str) -> None:
    assert parse_quantity(text) is None
