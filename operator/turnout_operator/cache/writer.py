"""Writes of owned objects, through the cache: what the API server answers is kept at once.

A write's answer is fresher than the watch event that will follow it, so the cache
holds it from the moment it returns (an older answer never replaces a newer event:
`ChildCache.observe`). The reconciler and the mirror write through here and never
touch the cache's bodies themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from turnout_operator.cache.children import ChildCache
from turnout_operator.kube.client import KubeError, ObjectRef

log = logging.getLogger(__name__)


class ObjectWrites(Protocol):
    """The API server's writes the writer needs (`kube.client.Kube`)."""

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]: ...

    async def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]: ...

    async def delete(self, ref: ObjectRef) -> bool: ...


class ChildWriter:
    def __init__(self, kube: ObjectWrites, children: ChildCache) -> None:
        self._kube = kube
        self._children = children

    async def apply(self, desired: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply `desired`; the answer is kept."""
        meta = desired["metadata"]
        try:
            applied = await self._kube.apply(desired)
        except KubeError as error:
            if desired["kind"] != "Service" or error.status != 422:
                raise
            # A hand-edited Service port cannot be applied back: the port number is part
            # of the list's merge key, so the API server sees two ports named http.
            # Services are cheap to replace; Deployments are never replaced this way.
            await self.delete(ObjectRef("v1", "Service", meta["namespace"], meta["name"]))
            applied = await self._kube.apply(desired)
        self._children.remember(applied)
        log.info(
            "applied",
            extra={"kind": desired["kind"], "namespace": meta["namespace"], "object": meta["name"]},
        )
        return applied

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace `obj` whole (its resourceVersion guards the write); the answer is kept."""
        replaced = await self._kube.replace(obj)
        self._children.remember(replaced)
        return replaced

    async def delete(self, ref: ObjectRef) -> None:
        await self._kube.delete(ref)
        self._children.forget(ref.kind, ref.namespace, ref.name)

    async def delete_if_present(self, ref: ObjectRef) -> bool:
        """Delete an object the cache holds; no API call for one that is already gone."""
        if self._children.get(ref.kind, ref.namespace, ref.name) is None:
            return False
        await self.delete(ref)
        return True
