"""Desired Kubernetes objects of a Router, built by pure functions.

Everything the operator applies for a Router (ConfigMap, Deployment, Service,
HorizontalPodAutoscaler) is computed here from the spec, the version and the
operator's settings, as plain dicts ready for server-side apply. No I/O, clock,
environment or Kubernetes client (held by an import contract), so every object
is tested against an expected object written out by hand, and the reconciler
stays a thin layer of reads and writes around these functions.
"""

from turnout_operator.builders.inputs import BuildSettings, EngineDeployment, RouterIdentity
from turnout_operator.builders.names import (
    configmap_name,
    deployment_name,
    hpa_name,
    labels,
    selector_labels,
    service_name,
)
from turnout_operator.builders.objects import (
    build_configmap,
    build_deployment,
    build_hpa,
    build_service,
    endpoint,
    owner_reference,
)
from turnout_operator.builders.router_config import build_router_config, config_hash

__all__ = [
    "BuildSettings",
    "EngineDeployment",
    "RouterIdentity",
    "build_configmap",
    "build_deployment",
    "build_hpa",
    "build_router_config",
    "build_service",
    "config_hash",
    "configmap_name",
    "deployment_name",
    "endpoint",
    "hpa_name",
    "labels",
    "owner_reference",
    "selector_labels",
    "service_name",
]
