"""The one module that talks to the Kubernetes API server (besides kopf's own watches).

It lists and watches the Routers (the informer in informer.py reads them through it),
posts the operator's Events, and writes everything the operator writes.

Writes are server-side apply under one field manager (`turnout`), so repeated
applies are idempotent and a field someone else owns is taken back only where
Turnout set it. Errors come back as `KubeError` with the API server's own message,
which is what a user needs to see in a condition.

The transport is aiohttp, on which kopf runs too: every call is a coroutine on the
operator's event loop, with no thread pool of its own, and the official client
library (tens of MiB once imported, for a transport alone: every body is built and
read here) is never loaded. One session keeps at most `concurrency` connections to
the API server, as many as the passes that may run at once; a call beyond that waits
for a free connection.

Credentials come from `login` (by default `credentials.login`: the service account in
a pod, else the kubeconfig). They are read again once a minute and after a 401, so a
token the kubelet rotates is picked up. A request whose kept-alive connection the
server had closed (an API server restart) is sent once more on a new connection:
every write here is idempotent or guarded by a resourceVersion. An answer that says
when to try again (429, or 503 from a watch cache still initializing, with Retry-After)
is sent again after that wait, a few times. A server that cannot be reached, or a
timeout, raises aiohttp's error; the pass fails and is retried.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import kopf

from turnout_operator.api import GROUP, PLURAL, VERSION
from turnout_operator.api.engine import KIND as ENGINE_KIND
from turnout_operator.api.engine import PLURAL as ENGINE_PLURAL
from turnout_operator.api.routerversion import ROUTER_VERSION_KIND, ROUTER_VERSION_PLURAL
from turnout_operator.kube import credentials
from turnout_operator.telemetry.timings import measure

FIELD_MANAGER: Final = "turnout"
USER_AGENT: Final = "turnout-operator"
"""Names the operator's own requests in the API server's audit log (kopf's say kopf/<version>)."""
DEFAULT_CONCURRENCY: Final = 16
"""API calls in flight at once, and connections kept, unless the caller says otherwise."""
RELOGIN_SECONDS: Final = 60.0
"""How often the credentials are read again (kubelet rotates projected tokens hourly)."""
DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
"""A call may take as long as its answer keeps coming; a silent server fails it in 2 min."""

WATCH_SECONDS: Final = 290
"""How long the API server keeps one watch request open (it is then made again from the
last resourceVersion). client-go picks 5 to 10 minutes; kopf leaves it to the server."""
WATCH_TIMEOUT: Final = aiohttp.ClientTimeout(
    total=None, sock_connect=30, sock_read=WATCH_SECONDS + 60
)
"""A watch is silent between events; bookmarks arrive about once a minute."""
LIST_PAGE: Final = 500
"""Routers per page of a list (pages of one list are one consistent snapshot)."""

THROTTLED_RETRIES: Final = 3
"""Times a call is sent again when the API server says when to (429 or 5xx with Retry-After)."""
THROTTLED_WAIT_MAX: Final = 5.0

Login = Callable[[], kopf.ConnectionInfo]

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


class RouterGone(KubeError):
    """The Router a write was meant for no longer exists, or its name is another Router's
    now (a different uid)."""


class WatchExpired(KubeError):
    """The watch's resourceVersion is too old (410 Gone): list again, then watch."""


def _error(status: int, reason: str | None, payload: bytes) -> KubeError:
    message = reason or "request failed"
    if payload:
        try:
            message = str(json.loads(payload).get("message", message))
        except (ValueError, AttributeError):
            message = payload.decode(errors="replace")[:500]
    return KubeError(status, message)


def _retry_after(status: int, header: str | None) -> float | None:
    """Seconds to wait before sending again, when the API server asked for it."""
    if header is None or not (status == 429 or 500 <= status < 600):
        return None
    try:
        return min(max(float(header), 0.0), THROTTLED_WAIT_MAX)
    except ValueError:
        return None


def _without_nulls(value: Any) -> Any:
    """`value` with every null member of an object left out (at any depth)."""
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


class Kube:
    """Server-side apply, delete and Router status writes; engines and the Lease.

    The session is opened by the first call, on the running event loop; `close()` it
    when done.
    """

    def __init__(
        self,
        login: Login = credentials.login,
        concurrency: int = DEFAULT_CONCURRENCY,
        *,
        relogin_seconds: float = RELOGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._login = login
        self.concurrency = concurrency
        self._relogin_seconds = relogin_seconds
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._server = ""
        self._proxy: str | None = None
        self._auth: dict[str, str] = {}
        self._logged_in_at = 0.0
        self.writes = 0
        """API writes made, for metrics and for tests of idle behaviour."""
        self._watch_session: aiohttp.ClientSession | None = None
        """Watches hold their connection for minutes: they get a session of their own, so
        they never take one of the `concurrency` connections the passes share."""

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._watch_session is not None:
            watch_session, self._watch_session = self._watch_session, None
            await watch_session.close()

    def _relogin(self) -> kopf.ConnectionInfo:
        """Read the credentials (again)."""
        info = self._login()
        self._auth, self._logged_in_at = info.as_http_headers(), self._clock()
        self._server, self._proxy = info.server.rstrip("/"), info.proxy_url
        return info

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            info = self._relogin()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency, ssl=info.as_ssl_context()),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=DEFAULT_TIMEOUT,
                trust_env=info.trust_env,
            )
        elif self._clock() - self._logged_in_at >= self._relogin_seconds:
            self._relogin()
        return self._session

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        data: bytes | None,
        content_type: str,
        timeout: float | None,
    ) -> tuple[int, str | None, bytes, str | None]:
        headers = dict(self._auth)
        if data is not None:
            headers["Content-Type"] = content_type
        async with session.request(
            method,
            self._server + path,
            params=query,
            data=data,
            headers=headers,
            proxy=self._proxy,
            timeout=DEFAULT_TIMEOUT if timeout is None else aiohttp.ClientTimeout(total=timeout),
        ) as response:
            payload = await response.read()
            return response.status, response.reason, payload, response.headers.get("Retry-After")

    async def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        session = self._open()
        # JSON for every content type: server-side apply's YAML takes JSON as it is.
        data = None if body is None else json.dumps(body).encode()
        resent = relogged = False
        throttled = 0
        while True:
            try:
                status, reason, payload, retry_after = await self._send(
                    session, method, path, query or [], data, content_type, timeout
                )
            except aiohttp.ClientConnectorError:
                raise  # no connection was made: nothing to resend on
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                if resent:
                    raise
                resent = True  # a kept-alive connection the server had closed
                continue
            if status == 401 and not relogged:
                relogged = True
                before = self._auth
                self._relogin()
                if self._auth != before:
                    continue  # a new token (rotated) to try
            wait = _retry_after(status, retry_after)
            # As client-go does (a watch cache still initializing answers so); not for the
            # Lease's calls, whose timeout is the elector's.
            if wait is not None and timeout is None and throttled < THROTTLED_RETRIES:
                throttled += 1
                await asyncio.sleep(wait)
                continue
            break
        if not 200 <= status < 300:
            raise _error(status, reason, payload)
        return json.loads(payload) if payload else None

    async def _apply_at(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply `body` at `path` under Turnout's field manager, taking back
        fields another manager set."""
        self.writes += 1
        result: dict[str, Any] = await self._request(
            "PATCH",
            path,
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=body,
            content_type="application/apply-patch+yaml",
        )
        return result

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply `obj` (it carries apiVersion, kind, namespace and name)."""
        with measure("api"):
            return await self._apply_at(ObjectRef.of(obj).path(), obj)

    async def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace `obj` whole (PUT; its metadata.resourceVersion guards against a lost update).

        For fields another manager added, which server-side apply leaves in place.
        """
        with measure("api"):
            self.writes += 1
            result: dict[str, Any] = await self._request(
                "PUT", ObjectRef.of(obj).path(), query=[("fieldManager", FIELD_MANAGER)], body=obj
            )
            return result

    async def delete(self, ref: ObjectRef) -> bool:
        """Delete if present; False when it was already gone."""
        with measure("api"):
            self.writes += 1
            try:
                await self._request("DELETE", ref.path(), body={"propagationPolicy": "Background"})
            except KubeError as error:
                if error.not_found:
                    return False
                raise
            return True

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await self._request("GET", ref.path())
        except KubeError as error:
            if error.not_found:
                return None
            raise
        return result

    async def patch_router_status(
        self, namespace: str, name: str, uid: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write the status of the Router `uid` whole (a null field is left out, so a field
        no longer set is removed). Returns the Router as written.

        A JSON patch whose first operation tests the uid: a Router deleted, or deleted and
        made again under its name, is never written to (`RouterGone`). A merge patch
        cannot say this: the status subresource ignores metadata in its body.
        """
        with measure("api"):
            self.writes += 1
            ref = ObjectRef(f"{GROUP}/{VERSION}", "Router", namespace, name)
            try:
                result: dict[str, Any] = await self._request(
                    "PATCH",
                    ref.path("status"),
                    body=[
                        {"op": "test", "path": "/metadata/uid", "value": uid},
                        {"op": "add", "path": "/status", "value": _without_nulls(status)},
                    ],
                    content_type="application/json-patch+json",
                )
            except KubeError as error:
                if error.not_found or (error.status == 422 and not await self._is(ref, uid)):
                    raise RouterGone(error.status, error.message) from None
                raise
            return result

    async def _is(self, ref: ObjectRef, uid: str) -> bool:
        """Whether the object `ref` exists with `uid`. A failed JSON patch test comes back as
        a bare 422 ("the server rejected our request"), like any other invalid patch; this
        tells the two apart."""
        found = await self.get(ref)
        return found is not None and found.get("metadata", {}).get("uid") == uid

    def _routers_path(self, namespace: str | None) -> str:
        prefix, plural = _RESOURCES[(f"{GROUP}/{VERSION}", "Router")]
        return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"

    async def list_routers(self, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
        """Every Router of `namespace` (None: all), and the list's resourceVersion.

        A consistent read (no resourceVersion asked for): it holds every Router created,
        and none deleted, before it was made, which the informer's and the sweep's
        judgements of deleted Routers rely on. Read in pages of one snapshot.
        """
        path = self._routers_path(namespace)
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = [("limit", str(LIST_PAGE))]
            if token:
                query.append(("continue", token))
            listing = await self._request("GET", path, query=query)
            items.extend(listing.get("items") or [])
            meta = listing.get("metadata") or {}
            token = str(meta.get("continue") or "")
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    async def watch_routers(
        self, namespace: str | None, since: str
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """The Routers' watch events after resourceVersion `since`: (type, object), with
        BOOKMARKs. Ends when the server ends the request (every WATCH_SECONDS); raises
        `WatchExpired` when `since` is too old, `KubeError` for other errors."""
        if self._watch_session is None:
            info = self._relogin()
            self._watch_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=WATCH_TIMEOUT,
                trust_env=info.trust_env,
            )
        else:
            self._open()  # reads the credentials again when due
        query = [
            ("watch", "true"),
            ("resourceVersion", since),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(WATCH_SECONDS)),
        ]
        async with self._watch_session.get(
            self._server + self._routers_path(namespace),
            params=query,
            headers=self._auth,
            proxy=self._proxy,
        ) as response:
            if response.status != 200:
                raise _error(response.status, response.reason, await response.read())
            pending = b""
            async for chunk in response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = str(event.get("type", "")), event.get("object") or {}
                    if kind == "ERROR":
                        code = int(obj.get("code", 500) or 500)
                        message = str(obj.get("message", "watch error"))
                        raise (WatchExpired if code == 410 else KubeError)(code, message)
                    yield kind, obj

    async def post_event(self, namespace: str, event: Mapping[str, Any]) -> None:
        """Create one Event in `namespace`."""
        self.writes += 1
        await self._request("POST", f"/api/v1/namespaces/{namespace}/events", body=event)

    async def drop_finalizer(
        self, namespace: str, name: str, finalizers: list[str], finalizer: str
    ) -> None:
        """Remove `finalizer` from a Router whose finalizers are `finalizers` (a JSON patch
        that tests the list first, so a finalizer someone else added meanwhile stays)."""
        ref = ObjectRef(f"{GROUP}/{VERSION}", "Router", namespace, name)
        kept = [item for item in finalizers if item != finalizer]
        self.writes += 1
        await self._request(
            "PATCH",
            ref.path(),
            body=[
                {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
                {"op": "replace", "path": "/metadata/finalizers", "value": kept},
            ],
            content_type="application/json-patch+json",
        )

    async def _list(
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
            listing = await self._request("GET", path, query=query)
            kind = str(listing.get("kind", "")).removesuffix("List")
            api_version = str(listing.get("apiVersion", ""))
            for item in listing.get("items", []):
                # List items come without their kind; the cache is keyed by it.
                items.append({"apiVersion": api_version, "kind": kind, **item})
        return items

    async def router_uids(self, namespaces: list[str]) -> set[str]:
        """The uid of every Router that exists (in the watched namespaces): a consistent
        read, which holds every Router created before it was made."""
        uids: set[str] = set()
        scopes: list[str | None] = list(namespaces) or [None]
        for namespace in scopes:
            routers, _ = await self.list_routers(namespace)
            uids.update(str(router["metadata"]["uid"]) for router in routers)
        return uids

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Pods matching `selector` in `namespace` (from the watch cache): a rollout's new pods
        say why they do not start long before their Deployment does."""
        return await self._list("/api/v1", "pods", [namespace], selector)

    async def list_owned(self, namespaces: list[str], selector: str) -> list[dict[str, Any]]:
        """Every ConfigMap, Service, Deployment and HPA matching `selector` (from the watch cache)."""
        found: list[dict[str, Any]] = []
        for (_, kind), (prefix, plural) in _RESOURCES.items():
            if kind == "Router":
                continue
            try:
                found.extend(await self._list(prefix, plural, namespaces, selector))
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
        try:
            result: dict[str, Any] = await self._request("GET", self._engine_path(name))
        except KubeError as error:
            if error.not_found and "experimentengines" not in error.message:
                raise  # the CRD itself is missing: the API server names the resource
            if error.not_found:
                return None
            raise
        return result

    async def apply_engine(self, body: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Server-side apply the object (its metadata), then its status subresource."""
        name = body["metadata"]["name"]
        with measure("api"):
            await self._apply_at(self._engine_path(name), body)
            await self._apply_engine_status(name, status)

    async def apply_engine_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Server-side apply the status of an existing ExperimentEngine object."""
        with measure("api"):
            await self._apply_engine_status(name, status)

    async def _apply_engine_status(self, name: str, status: Mapping[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": ENGINE_KIND,
            "metadata": {"name": name},
            "status": status,
        }
        await self._apply_at(self._engine_path(name, "status"), body)

    async def engine_names(self, selector: str) -> list[str]:
        """Names of the ExperimentEngine objects matching `selector`."""
        listing = await self._request(
            "GET", self._engine_path(), query=[("labelSelector", selector)]
        )
        return [item["metadata"]["name"] for item in listing.get("items", [])]

    async def delete_engine(self, name: str) -> bool:
        self.writes += 1
        try:
            await self._request("DELETE", self._engine_path(name))
        except KubeError as error:
            if error.not_found:
                return False
            raise
        return True

    # --- the leader-election Lease (coordination.k8s.io/v1) ---

    @staticmethod
    def _lease_path(namespace: str, name: str = "") -> str:
        url = f"{_LEASES}/namespaces/{namespace}/leases"
        return f"{url}/{name}" if name else url

    async def get_lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""
        try:
            result: dict[str, Any] = await self._request(
                "GET", self._lease_path(namespace, name), timeout=timeout
            )
        except KubeError as error:
            if error.not_found:
                return None
            raise
        return result

    async def write_lease(self, lease: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Create the Lease (no resourceVersion) or replace it (only if unchanged since read).

        Raises `KubeError` with `conflict` when another replica wrote or created it first.
        """
        meta = lease["metadata"]
        # PUT carries metadata.resourceVersion: a Lease changed since it was read gives 409.
        creating = not meta.get("resourceVersion")
        result: dict[str, Any] = await self._request(
            "POST" if creating else "PUT",
            self._lease_path(meta["namespace"], "" if creating else meta["name"]),
            body=dict(lease),
            timeout=timeout,
        )
        return result
