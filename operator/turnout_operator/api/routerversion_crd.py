"""The `routerversions.turnout.dev` CustomResourceDefinition, generated from its models.

Same method as the Router's (`turnout_operator.api.crd`): the pydantic models are
rewritten into a structural schema. `crds/routerversions.turnout.dev.yaml`
is this module's output (`make crds`); a unit test fails when the committed file
differs.

Pure: no I/O beyond printing in `main()`.
"""

from __future__ import annotations

import sys
from typing import Any, Final

from turnout_operator.api.crd import crd_object, render_crd, structural_schema
from turnout_operator.api.router import GROUP
from turnout_operator.api.routerversion import (
    ROUTER_VERSION_KIND,
    ROUTER_VERSION_PLURAL,
    ROUTER_VERSION_SHORT_NAMES,
    ROUTER_VERSION_SINGULAR,
    RouterVersionSpec,
)

CRD_NAME: Final = f"{ROUTER_VERSION_PLURAL}.{GROUP}"

_PRINTER_COLUMNS: Final = (
    {"name": "Router", "type": "string", "jsonPath": ".spec.router"},
    {"name": "Version", "type": "integer", "jsonPath": ".spec.version"},
    {"name": "Status", "type": "string", "jsonPath": ".spec.status"},
    {"name": "Engine", "type": "string", "jsonPath": ".spec.experimentEngine.type"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Change",
        "type": "string",
        "jsonPath": ".spec.change",
        "priority": 1,
        "description": "What changed from the previous version.",
    },
)


def router_version_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "A RouterVersion mirrors one recorded version of a Router (read-only: the "
            "operator writes it from the versions database and restores any edit)."
        ),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(RouterVersionSpec),
        },
    }


def build_crd() -> dict[str, Any]:
    return crd_object(
        name=CRD_NAME,
        scope="Namespaced",
        kind=ROUTER_VERSION_KIND,
        plural=ROUTER_VERSION_PLURAL,
        singular=ROUTER_VERSION_SINGULAR,
        short_names=ROUTER_VERSION_SHORT_NAMES,
        schema=router_version_schema(),
        printer_columns=_PRINTER_COLUMNS,
        status_subresource=False,
    )


def crd_yaml() -> str:
    return render_crd(build_crd())


def main() -> None:
    sys.stdout.write(crd_yaml())


if __name__ == "__main__":
    main()
