"""How the operator authenticates to the API server, without the official client library.

In a pod: the service account's token and CA (`kopf.login_with_service_account`), at
the address Kubernetes gives every pod in `KUBERNETES_SERVICE_HOST`/`_PORT` (kopf
would use `kubernetes.default.svc`, which needs the cluster's DNS). Elsewhere: the
current context of the kubeconfig, `$KUBECONFIG` or `~/.kube/config`
(`kopf.login_with_kubeconfig`). kopf's watches (through the `on.login` handler in
`main.py`) and `kube.Kube` both call `login()`, and call it again to pick up a rotated
token: kopf on a 401, `Kube` on a 401 and once a minute.

What kopf's kubeconfig reading leaves out, which the official client did: `exec`
credential plugins and `tokenFile`, and file paths relative to the kubeconfig's own
folder (they are taken relative to the working directory). Certificates embedded as
`*-data`, certificate files by absolute path, a `token` and basic auth work.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import kopf


def in_cluster_server(environ: Mapping[str, str]) -> str | None:
    """The API server's URL as the kubelet puts it in a pod's environment, if it does."""
    host = environ.get("KUBERNETES_SERVICE_HOST")
    port = environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"https://{host}:{port}"


def login(settings: kopf.OperatorSettings | None = None) -> kopf.ConnectionInfo:
    """The service account in a pod, else the kubeconfig; `kopf.LoginError` when neither."""
    settings = settings or kopf.OperatorSettings()
    info: kopf.ConnectionInfo | None = kopf.login_with_service_account(settings=settings)
    if info is not None:
        # Kubernetes' own variables for reaching the API server from a pod (not settings).
        server = in_cluster_server(os.environ)
        return dataclasses.replace(info, server=server) if server else info
    info = kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError(
            "no service account token and no kubeconfig ($KUBECONFIG or ~/.kube/config)"
        )
    return info
