"""Real pods for the real-node tests: upstreams, Services, Routers, and reading them.

The upstreams run the Turnout image with a small stdlib HTTP server (as uid 65532 with
a read-only root, like every pod here): each answers JSON naming its route and echoing
the request's Turing-Req-ID, over HTTP/1.1 keep-alive.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.request
from typing import Any

from devenv.cluster import Cluster
from devenv.procs import wait_until

UPSTREAM_SERVER = """
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
NAME = os.environ["ROUTE_NAME"]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are two writes: no delayed-ACK stall
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"route": NAME, "requestId": self.headers.get("Turing-Req-ID")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""

EXPERIMENT_CONFIG: dict[str, Any] = {
    "experiments": [{"id": "001", "name": "exp_1"}],
    "variables": {
        "experiment_variables": {"001": [{"name": "client_id", "type": "unit", "required": True}]},
        "config": [
            {"name": "client_id", "required": True, "field": "client.id", "field_source": "payload"}
        ],
    },
}

RESTRICTED: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def apply(cluster: Cluster, namespace: str, body: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def start_upstream(cluster: Cluster, namespace: str, name: str, image: str) -> str:
    """A Deployment and ClusterIP Service answering as route `name`; returns its URL."""
    labels = {"app": f"upstream-{name}"}
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"upstream-{name}"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "upstream",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "command": ["python", "-c", UPSTREAM_SERVER],
                                "env": [{"name": "ROUTE_NAME", "value": name}],
                                "ports": [{"containerPort": 8080}],
                                "readinessProbe": {
                                    "tcpSocket": {"port": 8080},
                                    "periodSeconds": 1,
                                },
                                "securityContext": RESTRICTED,
                            }
                        ],
                    },
                },
            },
        },
    )
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"upstream-{name}"},
            "spec": {"selector": labels, "ports": [{"port": 8080, "targetPort": 8080}]},
        },
    )
    cluster.kubectl(
        "rollout", "status", f"deployment/upstream-{name}", "-n", namespace, "--timeout=180s"
    )
    ip = cluster.kubectl(
        "get", "service", f"upstream-{name}", "-n", namespace, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout.strip()
    return f"http://{ip}:8080/predict"


def router_manifest(
    name: str, routes: dict[str, str], engine: str = "hardcoded", **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routes": [{"id": rid, "endpoint": url, "timeout": "5s"} for rid, url in routes.items()],
        "fallbackRoute": "control",
        "routeNamePath": "route_name",
        "experimentEngine": {"type": engine, "config": copy.deepcopy(EXPERIMENT_CONFIG)},
        **spec,
    }
    return {
        "apiVersion": "turnout.dev/v1alpha1",
        "kind": "Router",
        "metadata": {"name": name},
        "spec": body,
    }


def service_url(cluster: Cluster, namespace: str, service: str) -> str:
    ip = cluster.kubectl(
        "get", "service", service, "-n", namespace, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout.strip()
    return f"http://{ip}/v1/predict"


def post(
    url: str, unit: int, request_id: str, timeout: float = 10.0
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps({"client": {"id": unit}}).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json", "Turing-Req-ID": request_id},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def wait_routed(url: str, what: str, timeout: float = 120.0) -> None:
    """Until the Service answers (kube-proxy has the endpoints)."""

    def answers() -> bool:
        try:
            return post(url, 1, "probe", timeout=2)[0] == 200
        except OSError:
            time.sleep(0.2)
            return False

    wait_until(what, answers, timeout=timeout, interval=0.2)
