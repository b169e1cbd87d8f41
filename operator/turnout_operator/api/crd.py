"""The `routers.turnout.dev` CustomResourceDefinition, generated from the Router models.

The pydantic models are the source of truth. Kubernetes wants a *structural*
OpenAPI schema (every node typed, no `$ref`, no `anyOf` with null, no
`additionalProperties` next to `properties`), while pydantic emits JSON Schema;
this module rewrites one into the other and adds what only Kubernetes knows:
the status subresource, printer columns and the CEL rules on the name.

`crds/routers.turnout.dev.yaml` is this module's output
(`python -m turnout_operator.api.crd`, or `make crds`); a unit test fails when
the committed file differs.

Pure: no I/O beyond printing in `main()`.
"""

from __future__ import annotations

import sys
from typing import Any, Final

import yaml
from pydantic import BaseModel

from turnout_operator.api.router import (
    GROUP,
    KIND,
    NAME_VALIDATIONS,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    RouterSpec,
    RouterStatus,
)

CRD_NAME: Final = f"{PLURAL}.{GROUP}"
CATEGORIES: Final = ("turnout",)

# JSON Schema keys the API server accepts in a structural schema and that carry
# meaning for users or validation, in the order they are written (type and
# description first, for readers of the YAML). Anything else pydantic emits
# (title, $defs, additionalProperties: false, const, ...) is dropped or rewritten.
_KEPT_KEYS: Final = (
    "type",
    "description",
    "default",
    "enum",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "required",
    "properties",
    "items",
    "additionalProperties",
    "x-kubernetes-validations",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
)

_PRINTER_COLUMNS: Final = (
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Version", "type": "integer", "jsonPath": ".status.deployedVersion"},
    {"name": "Engine", "type": "string", "jsonPath": ".spec.experimentEngine.type"},
    {"name": "Endpoint", "type": "string", "jsonPath": ".status.endpoint"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Current",
        "type": "integer",
        "jsonPath": ".status.currentVersion",
        "priority": 1,
        "description": "The version the current spec maps to.",
    },
    {
        "name": "Replicas",
        "type": "integer",
        "jsonPath": ".status.replicas",
        "priority": 1,
        "description": "Ready router pods.",
    },
    {
        "name": "Message",
        "type": "string",
        "jsonPath": ".status.message",
        "priority": 1,
        "description": "What is happening, in one line.",
    },
)


class SchemaError(ValueError):
    """The models produced JSON Schema that has no structural equivalent."""


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema (camelCase names) rewritten as a Kubernetes structural schema."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return _rewrite(schema, definitions)


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Inline `$ref` and unwrap `anyOf: [X, null]`; keys beside them override X's."""
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return _resolve({**definitions[name], **siblings}, definitions)
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option != {"type": "null"}]
        if len(options) != 1:
            raise SchemaError(f"a union of several types has no structural schema: {node}")
        siblings = {key: value for key, value in node.items() if key != "anyOf"}
        # The option's own description is the type's; the field's says more.
        return _resolve({**options[0], **siblings}, definitions)
    return node


def _rewrite(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, definitions)
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    out: dict[str, Any] = {}
    for key in _KEPT_KEYS:
        if key not in node:
            continue
        value = node[key]
        if key == "properties":
            out[key] = {name: _rewrite(child, definitions) for name, child in value.items()}
        elif key == "items":
            out[key] = _rewrite(value, definitions)
        elif key == "additionalProperties":
            # A map (dict[str, X]) keeps its value schema; `false` (extra="forbid") is
            # Kubernetes' default for a structural schema and is left out.
            if isinstance(value, dict):
                out[key] = _rewrite(value, definitions)
        elif key == "default" and value is None:
            # pydantic's "absent" default; an optional property says the same to Kubernetes.
            continue
        else:
            out[key] = value
    if "type" not in out:
        if "properties" in out or "enum" in out:
            raise SchemaError(f"no type for {node}")
        # A JsonValue field (any JSON): the API server keeps it as written, no pruning.
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def router_schema() -> dict[str, Any]:
    """The openAPIV3Schema of the Router kind: spec, status and rules on the name."""
    return {
        "type": "object",
        "description": (
            "A Router deploys an experiment-aware HTTP router: requests go to one of "
            "spec.routes, chosen by the treatment the experiment engine assigns."
        ),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            # Declared so the name rules can point at metadata.name (fieldPath); the
            # API server allows no other constraint inside metadata.
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": structural_schema(RouterSpec),
            "status": structural_schema(RouterStatus),
        },
        "x-kubernetes-validations": list(NAME_VALIDATIONS),
    }


def crd_object(
    *,
    name: str,
    scope: str,
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    schema: dict[str, Any],
    printer_columns: tuple[dict[str, Any], ...],
    status_subresource: bool,
) -> dict[str, Any]:
    """The CustomResourceDefinition envelope every Turnout kind shares: group, one
    served and stored version, the `turnout` category."""
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if status_subresource:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [dict(column) for column in printer_columns]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
                "categories": list(CATEGORIES),
            },
            "versions": [version],
        },
    }


def build_crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition object, ready for `kubectl apply`."""
    return crd_object(
        name=CRD_NAME,
        scope="Namespaced",
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=SHORT_NAMES,
        schema=router_schema(),
        printer_columns=_PRINTER_COLUMNS,
        status_subresource=True,
    )


def render_crd(crd: dict[str, Any]) -> str:
    """A CRD as the YAML committed in `crds/` (every generator writes this way)."""
    header = "# Generated by `make crds` from turnout_operator.api; do not edit.\n"
    body = yaml.safe_dump(crd, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def crd_yaml() -> str:
    """The Router CRD as the YAML committed in `crds/`."""
    return render_crd(build_crd())


def main() -> None:
    sys.stdout.write(crd_yaml())


if __name__ == "__main__":
    main()
