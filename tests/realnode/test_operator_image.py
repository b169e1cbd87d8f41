"""The Turnout image runs its operator's start-up as uid 65532, which has no passwd entry.

The operator pod crash-looped on a real node with `KeyError: 'getpwuid(): uid not
found: 65532'` (kopf's default identity asks for the user name). This pod runs the
built image as the chart runs it (uid 65532, read-only root, no USER in the pod) and
builds the options the operator hands to kopf; it reports through its termination
message (no `kubectl logs` on this node).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devenv.operator import wait_for
from devenv.realnode.images import Images
from devenv.realnode.node import NODE_NAME, RealNode
from tests.realnode.support import RESTRICTED, apply
from tests.substrate.operator_fixtures import OperatorHarness

pytestmark = pytest.mark.realnode

CHECK = """
import os, pwd
os.environ.pop("USER", None)  # a pod that sets none, whatever the image sets
from turnout_operator.runtime.settings import OperatorSettings
from turnout_operator.runtime.lifecycle import _kopf_options
identity = _kopf_options(OperatorSettings(), None)["identity"]
try:
    pwd.getpwuid(os.getuid())
    entry = "passwd entry"
except KeyError:
    entry = "no passwd entry"
with open("/dev/termination-log", "w") as out:
    out.write(f"{os.getuid()} {entry} {identity}")
"""


def test_the_operator_starts_kopf_as_a_uid_with_no_passwd_entry(
    operators: OperatorHarness, realnode_images: Images, on_real_node: RealNode
) -> None:
    h = operators
    apply(
        h.cluster,
        h.namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "operator-identity"},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "operator",
                        "image": realnode_images.turnout,
                        "imagePullPolicy": "Never",
                        "command": ["python", "-c", CHECK],
                        "env": [
                            {"name": "TURNOUT_DATABASE_URL", "value": "postgresql://x@db/turnout"},
                            {
                                "name": "POD_NAME",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            },
                        ],
                        "securityContext": {**RESTRICTED, "runAsGroup": 65532},
                    }
                ],
            },
        },
    )

    def finished() -> dict[str, Any] | None:
        pod = h.kubectl_json("get", "pod", "operator-identity")
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            return dict(pod)
        return None

    pod = wait_for(finished, 120, "the operator-identity pod to finish", None)
    (status,) = pod["status"]["containerStatuses"]
    terminated = status["state"]["terminated"]
    assert pod["spec"]["nodeName"] == NODE_NAME, json.dumps(pod)
    assert terminated["exitCode"] == 0, terminated
    assert terminated["message"].startswith("65532 no passwd entry operator-identity_"), terminated
