"""Fixtures for ExperimentEngine objects and the Router admission webhook.

* `engine_crd`: the committed ExperimentEngine CRD, installed once per session.
* `passkey_plugin`: the hardcoded example engine whose clients carry passkeys
  (`tests/plugins/passkey_plugin.py`), as one executable the operator can start
  with its bare environment.
* `webhook`: a certificate for 127.0.0.1 made for the test, the operator
  settings that serve it, and a ValidatingWebhookConfiguration the test's API
  server uses to call the operator on loopback, limited to the test's namespace
  and deleted afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devenv.binaries import REPO_ROOT
from devenv.certs import ServingCert, make_serving_cert
from devenv.cluster import Cluster
from devenv.procs import Process, free_port

ENGINE_CRD_FILE = REPO_ROOT / "crds" / "experimentengines.turnout.dev.yaml"
ENGINE_CRD_NAME = "experimentengines.turnout.dev"
WEBHOOK_PATH = "/validate-router"


@pytest.fixture(scope="session")
def engine_crd(cluster: Cluster) -> str:
    cluster.kubectl("apply", "--server-side", "-f", str(ENGINE_CRD_FILE))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        f"customresourcedefinition/{ENGINE_CRD_NAME}",
    )
    return ENGINE_CRD_NAME


@pytest.fixture(scope="session")
def passkey_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A launcher: the operator starts plugins with PATH only, so it sets what Python needs."""
    path = tmp_path_factory.mktemp("passkey-plugin") / "passkey"
    script = REPO_ROOT / "tests" / "plugins" / "passkey_plugin.py"
    path.write_text(f"#!/bin/sh\nPYTHONPATH={REPO_ROOT} exec {sys.executable} {script}\n")
    path.chmod(0o755)
    return path


@dataclass
class Webhook:
    """The operator's side (port, certificate) and the API server's side (the configuration)."""

    cluster: Cluster
    namespace: str
    port: int
    cert: ServingCert
    name: str

    def operator_env(self) -> dict[str, str]:
        return {
            "TURNOUT_WEBHOOK_PORT": str(self.port),
            "TURNOUT_WEBHOOK_CERT_FILE": str(self.cert.cert),
            "TURNOUT_WEBHOOK_KEY_FILE": str(self.cert.key),
        }

    def configure(self, failure_policy: str) -> None:
        """Create or replace the ValidatingWebhookConfiguration with this failure policy."""
        ca_bundle = base64.b64encode(self.cert.ca_cert.read_bytes()).decode()
        config: dict[str, Any] = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.name},
            "webhooks": [
                {
                    "name": "routers.turnout.dev",  # the chart's name
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{self.port}{WEBHOOK_PATH}",
                        "caBundle": ca_bundle,
                    },
                    "rules": [
                        {
                            "apiGroups": ["turnout.dev"],
                            "apiVersions": ["v1alpha1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["routers"],
                            "scope": "Namespaced",
                        }
                    ],
                    # Only this test's namespace: other tests share the API server.
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": self.namespace}
                    },
                    "failurePolicy": failure_policy,
                    "sideEffects": "None",
                    "timeoutSeconds": 10,
                    "admissionReviewVersions": ["v1"],
                }
            ],
        }
        self.cluster.kubectl("apply", "-f", "-", input=json.dumps(config))

    def wait_serving(self, timeout: float = 120, leader: Process | None = None) -> None:
        """Until the operator's webhook port answers TLS with the test's certificate.

        With `leader`, until that operator's own (kopf's) server answers: a replica serves
        a standby webhook until it wins the Lease, then closes it and kopf opens the port
        again a moment later; a check that reached the standby could be followed by a
        request that finds the port closed in between.
        """
        context = ssl.create_default_context(cafile=str(self.cert.ca_cert))
        deadline = time.monotonic() + timeout
        if leader is not None:
            while '"admission webhook on"' not in leader.log_path.read_text(errors="replace"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the leader's webhook did not start:\n{leader.log_tail()}")
                time.sleep(0.2)
        while True:
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.port), timeout=2) as raw,
                    context.wrap_socket(raw, server_hostname="127.0.0.1"),
                ):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@pytest.fixture
def webhook(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[Webhook]:
    hook = Webhook(
        cluster=cluster,
        namespace=namespace,
        port=free_port(),
        cert=make_serving_cert(tmp_path / "webhook-cert", "turnout-webhook", ["127.0.0.1"]),
        name=f"turnout-test-{secrets.token_hex(4)}",
    )
    try:
        yield hook
    finally:
        with contextlib.suppress(Exception):
            cluster.kubectl(
                "delete", "validatingwebhookconfiguration", hook.name, "--ignore-not-found"
            )
