"""The standby's AdmissionReview handling: what it reads from a request and what it answers.

The answer is compared with kopf's own `build_response` (what the leader sends) for
the same verdict, so kubectl prints the same text whichever replica answered. The
server itself, with the real API server calling it, is in
tests/integration/test_standby_webhook.py.
"""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from kopf._core.actions import execution
from kopf._core.engines import admission as kopf_admission

from turnout_operator.reconcile.admission import Admission
from turnout_operator.runtime.standby_webhook import BadReview, parse_review, review_response

pytestmark = pytest.mark.unit

ROUTER = {"metadata": {"name": "demo"}, "spec": {"x": 1}}


def request(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "turnout.dev", "version": "v1alpha1", "kind": "Router"},
        "resource": {"group": "turnout.dev", "version": "v1alpha1", "resource": "routers"},
        "operation": "CREATE",
        "userInfo": {"username": "admin"},
        "object": ROUTER,
        "oldObject": None,
    }
    body.update(fields)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}


def kopfs_answer(data: dict[str, Any], error: Exception | None, warnings: list[str]) -> Any:
    """What kopf sends for the leader's handler that raised `error` (or returned)."""
    outcome = execution.Outcome(final=True, exception=error)
    return kopf_admission.build_response(
        request=data,  # type: ignore[arg-type]
        outcomes={"validate-router": outcome},  # type: ignore[dict-item]
        warnings=warnings,
        jsonpatch=[],  # type: ignore[arg-type]
    )


def test_a_request_gives_uid_operation_and_both_objects() -> None:
    old = {"metadata": {"name": "demo"}, "spec": {"x": 0}}
    review = parse_review(request(operation="UPDATE", oldObject=old))
    assert review.uid == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert review.operation == "UPDATE"
    assert review.new == ROUTER
    assert review.old == old
    assert (review.api_version, review.kind) == ("admission.k8s.io/v1", "AdmissionReview")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ([], "must be a JSON object"),
        ({"apiVersion": "admission.k8s.io/v1"}, "has no request"),
        (request(object=None), "Either old or new object is missing"),
        (request(object="text"), "must be JSON objects"),
        (
            request(resource={"group": "apps", "version": "v1", "resource": "deployments"}),
            "reviews routers.turnout.dev only",
        ),
    ],
)
def test_what_is_not_a_router_review_is_a_bad_request(data: Any, why: str) -> None:
    with pytest.raises(BadReview, match=why):
        parse_review(data)


def test_a_refusal_is_answered_as_kopf_answers_the_leaders() -> None:
    data = request()
    message = "spec.experimentEngine.config: engine 'xp' rejected it: no experiments"
    ours = review_response(parse_review(data), Admission(False, message))
    assert ours == kopfs_answer(data, kopf.AdmissionError(message, code=422), [])
    assert ours == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "allowed": False,
            "status": {"message": message, "code": 422},
        },
    }


def test_an_allowed_request_with_warnings_is_answered_as_kopf_answers() -> None:
    data = request()
    warnings = ("engine 'xp' could not check spec.experimentEngine.config now (down)",)
    ours = review_response(parse_review(data), Admission(True, warnings=warnings))
    assert ours == kopfs_answer(data, None, list(warnings))
    assert ours["response"] == {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "allowed": True,
        "warnings": list(warnings),
    }
    plain = review_response(parse_review(data), Admission(True))
    assert plain == kopfs_answer(data, None, [])
    assert "warnings" not in plain["response"] and "status" not in plain["response"]
