"""The plugin's one connection to the API server, with the user's kubeconfig.

kubectl's defaults are followed: `--kubeconfig`, else `$KUBECONFIG` (several
files joined with `:`), else `~/.kube/config`; `--context`, else the current
context; `--namespace`, else the context's namespace, else `default`. Errors
come back as `ApiError` carrying the API server's own message (a user refused
by RBAC reads exactly why).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from turnout_operator.api import GROUP, VERSION

FIELD_MANAGER: Final = "kubectl-turnout"
API_PREFIX: Final = f"/apis/{GROUP}/{VERSION}"
ROUTER_LABEL: Final = "turnout.dev/router"


class ApiError(Exception):
    """A failed API call: the HTTP status (0: no answer) and the API server's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where to talk to: kubeconfig, context, namespace."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def _context_namespace(target: Target) -> str:
    contexts, active = k8s_config.list_kube_config_contexts(config_file=target.kubeconfig)  # type: ignore[no-untyped-call]
    chosen = active
    if target.context is not None:
        chosen = next((c for c in contexts if c.get("name") == target.context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


class Client:
    def __init__(self, target: Target) -> None:
        try:
            self._api: k8s_client.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=target.kubeconfig, context=target.context
            )
            self.namespace = target.namespace or _context_namespace(target)
        except (k8s_config.ConfigException, OSError) as error:
            raise ApiError(0, f"cannot load the kubeconfig: {error}") from None

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        payload = body if body is None or content_type.endswith("json") else json.dumps(body)
        _, url, headers, _, _ = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(method, url, header_params=headers, body=payload)
            data: bytes = response.read()  # type: ignore[no-untyped-call]
        except ApiException as exc:
            raise _error(int(exc.status or 0), exc.reason, exc.body) from None
        except Exception as exc:  # urllib3: refused, TLS, DNS; no HTTP status
            raise ApiError(0, f"cannot reach the API server: {exc}") from None
        if not 200 <= response.status < 300:
            raise _error(response.status, response.reason, data.decode(errors="replace"))
        return json.loads(data) if data else None

    # --- Turnout's kinds ---

    def router(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "GET", f"{API_PREFIX}/namespaces/{self.namespace}/routers/{name}"
        )
        return result

    def router_versions(self, router: str) -> list[dict[str, Any]]:
        listing = self.request(
            "GET",
            f"{API_PREFIX}/namespaces/{self.namespace}/routerversions",
            query=[("labelSelector", f"{ROUTER_LABEL}={router}")],
        )
        items: list[dict[str, Any]] = listing.get("items", [])
        return [
            {"apiVersion": listing.get("apiVersion"), "kind": "RouterVersion", **item}
            for item in items
            if (item.get("spec") or {}).get("router") == router
        ]

    def engines(self) -> list[dict[str, Any]]:
        listing = self.request("GET", f"{API_PREFIX}/experimentengines")
        items: list[dict[str, Any]] = listing.get("items", [])
        return [
            {"apiVersion": listing.get("apiVersion"), "kind": "ExperimentEngine", **i}
            for i in items
        ]

    def engine(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"{API_PREFIX}/experimentengines/{name}")
        return result

    def apply_router_spec(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply of the Router's spec, under the plugin's field manager."""
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Router",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": dict(spec),
        }
        result: dict[str, Any] = self.request(
            "PATCH",
            f"{API_PREFIX}/namespaces/{self.namespace}/routers/{name}",
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=body,
            content_type="application/apply-patch+yaml",
        )
        return result

    def merge_patch_router(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "PATCH",
            f"{API_PREFIX}/namespaces/{self.namespace}/routers/{name}",
            query=[("fieldManager", FIELD_MANAGER)],
            body=dict(patch),
            content_type="application/merge-patch+json",
        )
        return result


def _error(status: int, reason: str | None, body: str | bytes | None) -> ApiError:
    message = str(reason or "request failed")
    if body:
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        try:
            message = json.loads(text).get("message", message)
        except (ValueError, AttributeError):
            message = text[:500]
    return ApiError(status, message)
