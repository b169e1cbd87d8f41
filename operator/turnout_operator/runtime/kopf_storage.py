"""How kopf remembers Routers between events: nothing written onto the Router.

kopf's default keeps a copy of each object's spec, labels and annotations (the
"diff base") in an annotation, and patches it after every change it sees, to
tell create from update from resume. Turnout registers no create, update or
resume handler (one loop per Router reads the Router as it is), so the copy
serves nothing and would cost a PATCH per new or changed Router: 1,000 extra
writes when 1,000 Routers are applied. Without a diff base every event looks
like a creation to kopf, which runs no handler for it; deletion is told by the
deletionTimestamp and does not use it.

Routers that carry the annotation from an earlier release keep it; it is not read.
Nor is the essence built: kopf's default deep-copies the whole body (status and
all) on every event to build it, which was the operator's largest use of
`copy.deepcopy`; with nothing stored to compare it with, it served nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kopf


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base that is never stored: kopf writes nothing to keep one."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        """An empty essence: nothing is compared with it (`fetch` finds none), so no copy."""
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
