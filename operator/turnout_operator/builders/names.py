"""Names and labels of a Router's child objects, in one place.

The reconciler finds existing children by these names and selects pods by these
labels, so a name built differently in two places would orphan objects.
"""

from __future__ import annotations

from typing import Final

from turnout_operator.builders.inputs import RouterIdentity

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "turnout"
"""On every object the operator makes: its watches select them by this label."""
ROUTER_LABEL: Final = "turnout.dev/router"
"""Names the Router a child belongs to; the only label in selectors."""
VERSION_LABEL: Final = "turnout.dev/version"
"""Router version of a ConfigMap or pod."""
CONFIG_HASH_ANNOTATION: Final = "turnout.dev/config-hash"
"""Hash of the router config in the pod template: a config change rolls the pods."""


def deployment_name(name: str) -> str:
    return f"{name}-router"


def service_name(name: str) -> str:
    return f"{name}-router"


def hpa_name(name: str) -> str:
    return f"{name}-router"


def configmap_name(name: str, version: int) -> str:
    """One ConfigMap per version: they are immutable, and an old version's pods keep theirs."""
    return f"{name}-router-v{version}"


def labels(identity: RouterIdentity) -> dict[str, str]:
    """Labels on every child object (the recommended app.kubernetes.io set plus ours)."""
    return {
        "app.kubernetes.io/name": "turnout-router",
        "app.kubernetes.io/instance": identity.name,
        MANAGED_BY_LABEL: MANAGED_BY,
        "app.kubernetes.io/component": "router",
        ROUTER_LABEL: identity.name,
    }


def selector_labels(identity: RouterIdentity) -> dict[str, str]:
    """The Deployment's and Service's selector.

    A Deployment's selector cannot change after creation, so it holds only the
    label that will never change: the Router's name.
    """
    return {ROUTER_LABEL: identity.name}
