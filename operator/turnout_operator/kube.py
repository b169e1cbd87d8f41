"""The one module that talks to the Kubernetes API server (besides kopf's own watches).

Writes are server-side apply under one field manager (`turnout`), so repeated
applies are idempotent and a field someone else owns is taken back only where
Turnout set it. The official client is synchronous; every call runs in a worker
thread of the client's own pool so the operator's event loop never blocks. The pool
and the client's connection pool are as large as the number of passes that may run
at once (asyncio's default pool has cpu_count + 4 threads: on two cores, six API calls
at a time for all Routers). Errors come back as
`KubeError` with the API server's own message, which is what a user needs to
see in a condition.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from turnout_operator.api import GROUP, PLURAL, VERSION
from turnout_operator.api.engine import KIND as ENGINE_KIND
from turnout_operator.api.engine import PLURAL as ENGINE_PLURAL
from turnout_operator.api.routerversion import ROUTER_VERSION_KIND, ROUTER_VERSION_PLURAL
from turnout_operator.timings import measure

FIELD_MANAGER: Final = "turnout"
USER_AGENT: Final = "turnout-operator"
"""Names the operator's own requests in the API server's audit log (kopf's say kopf/<version>)."""
DEFAULT_CONCURRENCY: Final = 16
"""API calls in flight at once, and connections kept, unless the caller says otherwise."""

T = TypeVar("T")

_LEASES: Final = "/apis/coordination.k8s.io/v1"

# apiVersion/kind → (URL prefix, plural) of every kind the operator writes.
_RESOURCES: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("v1", "ConfigMap"): ("/api/v1", "configmaps"),
    ("v1", "Service"): ("/api/v1", "services"),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): (
        "/apis/autoscaling/v2",
        "horizontalpodautoscalers",
    ),
    (f"{GROUP}/{VERSION}", "Router"): (f"/apis/{GROUP}/{VERSION}", PLURAL),
    (f"{GROUP}/{VERSION}", ROUTER_VERSION_KIND): (
        f"/apis/{GROUP}/{VERSION}",
        ROUTER_VERSION_PLURAL,
    ),
}


@dataclass(frozen=True)
class ObjectRef:
    """Which object: enough to build its URL."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])

    def path(self, subresource: str = "") -> str:
        prefix, plural = _RESOURCES[(self.api_version, self.kind)]
        url = f"{prefix}/namespaces/{self.namespace}/{plural}/{self.name}"
        return f"{url}/{subresource}" if subresource else url


class KubeError(Exception):
    """A failed API call: the HTTP status and the API server's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def _error(exc: ApiException) -> KubeError:
    status = int(exc.status or 0)
    message = str(exc.reason or "request failed")
    if exc.body:
        try:
            message = json.loads(exc.body).get("message", message)
        except (ValueError, AttributeError):
            message = str(exc.body)[:500]
    return KubeError(status, message)


def load_api_client(
    connections: int = DEFAULT_CONCURRENCY, config_file: str | None = None
) -> k8s_client.ApiClient:
    """In the cluster: the pod's service account; elsewhere: `config_file`, by default
    $KUBECONFIG or ~/.kube/config.

    The client keeps up to `connections` connections open to the API server.
    """
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=config_file, client_configuration=configuration
        )
    configuration.connection_pool_maxsize = connections
    api = k8s_client.ApiClient(configuration)
    api.user_agent = USER_AGENT
    return api


class Kube:
    """Server-side apply, delete and Router status writes."""

    def __init__(self, api: k8s_client.ApiClient, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self._api = api
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kube")
        self.writes = 0
        """API writes made, for metrics and for tests of idle behaviour."""

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._api.close()  # type: ignore[no-untyped-call]

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking client call in this client's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # The client serializes dicts itself for JSON content types; other types
        # (server-side apply's YAML, of which JSON is a subset) go as text.
        payload = body if body is None or content_type.endswith("json") else json.dumps(body)
        _, url, headers, _, _ = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(
                method, url, header_params=headers, body=payload, _request_timeout=timeout
            )
        except ApiException as exc:
            raise _error(exc) from None
        data: bytes = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            raise _error(
                ApiException(
                    status=response.status,
                    reason=response.reason,
                    body=data.decode(errors="replace") if data else None,
                )
            )
        return json.loads(data) if data else None

    def _apply_sync(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self.writes += 1
        result: dict[str, Any] = self._request(
            "PATCH",
            ObjectRef.of(obj).path(),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        return result

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply `obj` (it carries apiVersion, kind, namespace and name)."""
        with measure("api"):
            return await self._call(self._apply_sync, obj)

    def _replace_sync(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self.writes += 1
        result: dict[str, Any] = self._request(
            "PUT", ObjectRef.of(obj).path(), query=[("fieldManager", FIELD_MANAGER)], body=obj
        )
        return result

    async def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace `obj` whole (PUT; its metadata.resourceVersion guards against a lost update).

        For fields another manager added, which server-side apply leaves in place.
        """
        with measure("api"):
            return await self._call(self._replace_sync, obj)

    def _delete_sync(self, ref: ObjectRef) -> bool:
        self.writes += 1
        try:
            self._request("DELETE", ref.path(), body={"propagationPolicy": "Background"})
        except KubeError as error:
            if error.not_found:
                return False
            raise
        return True

    async def delete(self, ref: ObjectRef) -> bool:
        """Delete if present; False when it was already gone."""
        with measure("api"):
            return await self._call(self._delete_sync, ref)

    def _get_sync(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._request("GET", ref.path())
        except KubeError as error:
            if error.not_found:
                return None
            raise
        return result

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return await self._call(self._get_sync, ref)

    def _patch_status_sync(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.writes += 1
        ref = ObjectRef(f"{GROUP}/{VERSION}", "Router", namespace, name)
        result: dict[str, Any] = self._request(
            "PATCH",
            ref.path("status"),
            body={"status": status},
            content_type="application/merge-patch+json",
        )
        return result

    async def patch_router_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the Router's status subresource (lists such as conditions are replaced).

        Returns the Router as written.
        """
        with measure("api"):
            return await self._call(self._patch_status_sync, namespace, name, status)

    def _list_sync(
        self, prefix: str, plural: str, namespaces: list[str], selector: str = ""
    ) -> list[dict[str, Any]]:
        """Every item of one kind in the namespaces (all of them when none), with its kind."""
        paths = (
            [f"{prefix}/namespaces/{ns}/{plural}" for ns in namespaces]
            if namespaces
            else [f"{prefix}/{plural}"]
        )
        # resourceVersion=0 is served from the API server's watch cache.
        query = [("resourceVersion", "0")]
        if selector:
            query.append(("labelSelector", selector))
        items: list[dict[str, Any]] = []
        for path in paths:
            listing = self._request("GET", path, query=query)
            kind = str(listing.get("kind", "")).removesuffix("List")
            api_version = str(listing.get("apiVersion", ""))
            for item in listing.get("items", []):
                # List items come without their kind; the cache is keyed by it.
                items.append({"apiVersion": api_version, "kind": kind, **item})
        return items

    async def router_uids(self, namespaces: list[str]) -> set[str]:
        """The uid of every Router that exists (in the watched namespaces)."""
        prefix, plural = _RESOURCES[(f"{GROUP}/{VERSION}", "Router")]
        routers = await self._call(self._list_sync, prefix, plural, namespaces)
        return {router["metadata"]["uid"] for router in routers}

    async def list_owned(self, namespaces: list[str], selector: str) -> list[dict[str, Any]]:
        """Every ConfigMap, Service, Deployment and HPA matching `selector` (from the watch cache)."""
        found: list[dict[str, Any]] = []
        for (_, kind), (prefix, plural) in _RESOURCES.items():
            if kind == "Router":
                continue
            try:
                found.extend(
                    await self._call(self._list_sync, prefix, plural, namespaces, selector)
                )
            except KubeError as error:
                # Without the RouterVersion CRD the operator still runs; it mirrors nothing.
                if not (error.not_found and kind == ROUTER_VERSION_KIND):
                    raise
        return found

    # --- ExperimentEngine objects (cluster-scoped) ---

    def _engine_path(self, name: str = "", subresource: str = "") -> str:
        path = f"/apis/{GROUP}/{VERSION}/{ENGINE_PLURAL}"
        if name:
            path += f"/{name}"
        return f"{path}/{subresource}" if subresource else path

    async def get_engine(self, name: str) -> dict[str, Any] | None:
        """The ExperimentEngine object, None when absent (a missing CRD raises a 404 KubeError)."""

        def get() -> dict[str, Any] | None:
            try:
                result: dict[str, Any] = self._request("GET", self._engine_path(name))
            except KubeError as error:
                if error.not_found and "experimentengines" not in error.message:
                    raise  # the CRD itself is missing: the API server names the resource
                if error.not_found:
                    return None
                raise
            return result

        return await asyncio.to_thread(get)

    async def apply_engine(self, body: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Server-side apply the object (its metadata), then its status subresource."""

        def apply() -> None:
            name = body["metadata"]["name"]
            query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
            self.writes += 2
            self._request(
                "PATCH",
                self._engine_path(name),
                query=query,
                body=body,
                content_type="application/apply-patch+yaml",
            )
            self._request(
                "PATCH",
                self._engine_path(name, "status"),
                query=query,
                body={
                    "apiVersion": body["apiVersion"],
                    "kind": body["kind"],
                    "metadata": {"name": name},
                    "status": status,
                },
                content_type="application/apply-patch+yaml",
            )

        with measure("api"):
            await asyncio.to_thread(apply)

    async def apply_engine_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Server-side apply the status of an existing ExperimentEngine object."""

        def apply() -> None:
            self.writes += 1
            self._request(
                "PATCH",
                self._engine_path(name, "status"),
                query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                body={
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": ENGINE_KIND,
                    "metadata": {"name": name},
                    "status": status,
                },
                content_type="application/apply-patch+yaml",
            )

        with measure("api"):
            await asyncio.to_thread(apply)

    async def engine_names(self, selector: str) -> list[str]:
        """Names of the ExperimentEngine objects matching `selector`."""

        def names() -> list[str]:
            listing = self._request("GET", self._engine_path(), query=[("labelSelector", selector)])
            return [item["metadata"]["name"] for item in listing.get("items", [])]

        return await asyncio.to_thread(names)

    async def delete_engine(self, name: str) -> bool:
        def delete() -> bool:
            self.writes += 1
            try:
                self._request("DELETE", self._engine_path(name))
            except KubeError as error:
                if error.not_found:
                    return False
                raise
            return True

        return await asyncio.to_thread(delete)

    # --- the leader-election Lease (coordination.k8s.io/v1) ---

    @staticmethod
    def _lease_path(namespace: str, name: str = "") -> str:
        url = f"{_LEASES}/namespaces/{namespace}/leases"
        return f"{url}/{name}" if name else url

    def _get_lease_sync(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._request(
                "GET", self._lease_path(namespace, name), timeout=timeout
            )
        except KubeError as error:
            if error.not_found:
                return None
            raise
        return result

    async def get_lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""
        return await asyncio.to_thread(self._get_lease_sync, namespace, name, timeout)

    def _write_lease_sync(self, lease: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        meta = lease["metadata"]
        # PUT carries metadata.resourceVersion: a Lease changed since it was read gives 409.
        creating = not meta.get("resourceVersion")
        result: dict[str, Any] = self._request(
            "POST" if creating else "PUT",
            self._lease_path(meta["namespace"], "" if creating else meta["name"]),
            body=dict(lease),
            timeout=timeout,
        )
        return result

    async def write_lease(self, lease: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Create the Lease (no resourceVersion) or replace it (only if unchanged since read).

        Raises `KubeError` with `conflict` when another replica wrote or created it first.
        """
        return await asyncio.to_thread(self._write_lease_sync, lease, timeout)
