"""The reconciler's small pure helpers: error text for users, body snapshots, revisions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from turnout_operator.api import RouterSpec
from turnout_operator.cache import RouterObject, previous_status
from turnout_operator.cache.routers import _revision
from turnout_operator.reconcile.reconciler import describe_validation_error

pytestmark = pytest.mark.unit


def test_validation_errors_name_the_field_and_never_echo_the_input() -> None:
    with pytest.raises(ValidationError) as error:
        RouterSpec.model_validate(
            {
                "routes": [{"id": "a", "endpoint": "ftp://secret-host/x"}],
                "fallbackRoute": "a",
                "replicas": -1,
            }
        )
    text = describe_validation_error(error.value)
    assert "spec.routes[0].endpoint:" in text
    assert "spec.replicas: Input should be greater than or equal to 0" in text
    assert "secret-host" not in text


def test_cross_field_errors_keep_their_own_field_name() -> None:
    with pytest.raises(ValidationError) as error:
        RouterSpec.model_validate(
            {"routes": [{"id": "a", "endpoint": "http://a/x"}], "fallbackRoute": "b"}
        )
    assert describe_validation_error(error.value).startswith("spec.fallbackRoute:")


def test_router_object_reads_what_a_pass_needs() -> None:
    body = {
        "metadata": {
            "namespace": "ns",
            "name": "r",
            "uid": "u",
            "generation": 3,
            "resourceVersion": "812",
        },
        "spec": {"a": 1},
        "status": {"phase": "Deployed"},
    }
    router = RouterObject.from_body(body)
    assert (router.namespace, router.name, router.uid, router.generation) == ("ns", "r", "u", 3)
    assert router.resource_version == "812"
    assert router.spec == {"a": 1}
    assert router.status == {"phase": "Deployed"}
    router.spec["a"] = 2  # each read is a fresh copy, kept apart from the body too
    body["status"]["phase"] = "Failed"
    assert (router.spec, router.status) == ({"a": 1}, {"phase": "Deployed"})
    assert router.ref.uid == "u"
    assert router.identity.name == "r"


def test_a_hand_mangled_status_counts_as_empty() -> None:
    assert previous_status({"phase": "Sideways"}).phase is None
    assert previous_status({"phase": "Deployed", "deployedVersion": 2}).deployed_version == 2


@pytest.mark.parametrize(
    ("text", "number"), [("812", 812), ("0", 0), ("", None), ("abc", None), ("12a", None)]
)
def test_revisions_are_numbers_only_when_they_look_like_numbers(
    text: str, number: int | None
) -> None:
    assert _revision(text) == number
