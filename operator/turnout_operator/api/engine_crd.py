"""The `experimentengines.turnout.dev` CustomResourceDefinition, generated from its models.

Cluster-scoped, status only (the operator's values configure the engines), with
the printer columns `kubectl get experimentengines` shows: Type, Ready,
Experiments, Age. `crds/experimentengines.turnout.dev.yaml` is this
module's output (`python -m turnout_operator.api.engine_crd`, or `make crds`); a
unit test fails when the committed file differs.

Pure: no I/O beyond printing in `main()`.
"""

from __future__ import annotations

import sys
from typing import Any, Final

from turnout_operator.api.crd import crd_object, render_crd, structural_schema
from turnout_operator.api.engine import KIND, PLURAL, SHORT_NAMES, SINGULAR, EngineStatus
from turnout_operator.api.router import GROUP

CRD_NAME: Final = f"{PLURAL}.{GROUP}"

_PRINTER_COLUMNS: Final = (
    {"name": "Type", "type": "string", "jsonPath": ".status.engineInfo.type"},
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {"name": "Experiments", "type": "integer", "jsonPath": ".status.experimentCount"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Display Name",
        "type": "string",
        "jsonPath": ".status.engineInfo.displayName",
        "priority": 1,
    },
    {"name": "Image", "type": "string", "jsonPath": ".status.pluginImage", "priority": 1},
    {"name": "Restarts", "type": "integer", "jsonPath": ".status.restarts", "priority": 1},
    {
        "name": "Message",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        "priority": 1,
    },
)


def engine_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "An experiment engine configured in the Turnout operator: its plugin's health and, "
            "for standard engines, its clients, experiments and variables. Read-only: the "
            "operator writes it."
        ),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "status": structural_schema(EngineStatus),
        },
    }


def build_crd() -> dict[str, Any]:
    return crd_object(
        name=CRD_NAME,
        scope="Cluster",
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=SHORT_NAMES,
        schema=engine_schema(),
        printer_columns=_PRINTER_COLUMNS,
        status_subresource=True,
    )


def crd_yaml() -> str:
    return render_crd(build_crd())


def main() -> None:
    sys.stdout.write(crd_yaml())


if __name__ == "__main__":
    main()
