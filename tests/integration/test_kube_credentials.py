"""The operator's client logs in without the official library, and follows a rotated token.

Against the real API server: a kubeconfig with the admin's embedded client
certificate (what the test clusters use), and kubeconfigs holding service-account
tokens from the TokenRequest API (what a pod's projected token is). Which identity a
call used is read from the API server's own refusal ("User ... cannot get ...").
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from devenv.cluster import Cluster
from turnout_operator.kube import credentials
from turnout_operator.kube.client import RELOGIN_SECONDS, Kube, KubeError

pytestmark = pytest.mark.cluster


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write_token_kubeconfig(cluster: Cluster, path: Path, token: str) -> None:
    ca = base64.b64encode(cluster.pki.ca_cert.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": cluster.server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    # Replaced whole, as the kubelet swaps a projected token's files.
    staged = path.with_suffix(".new")
    staged.write_text(yaml.safe_dump(config))
    staged.replace(path)


async def refusal(kube: Kube, namespace: str) -> KubeError:
    with pytest.raises(KubeError) as error:
        await kube.get_lease(namespace, "anything", 10)
    return error.value


async def test_the_admin_kubeconfig_with_embedded_certificates_logs_in(
    cluster: Cluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    kube = Kube(credentials.login)
    try:
        assert await kube.get_lease(namespace, "absent", 10) is None
        written = await kube.write_lease(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"namespace": namespace, "name": "present"},
                "spec": {"holderIdentity": "me"},
            },
            10,
        )
        assert written["metadata"]["uid"]
    finally:
        await kube.close()


async def test_a_rotated_token_is_read_again_after_a_401_and_once_a_minute(
    cluster: Cluster, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for account in ("a", "b"):
        cluster.kubectl("create", "serviceaccount", account, "-n", namespace)
    token = {
        account: cluster.kubectl("create", "token", account, "-n", namespace).stdout.strip()
        for account in ("a", "b")
    }
    kubeconfig = tmp_path / "kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    write_token_kubeconfig(cluster, kubeconfig, "not-a-token")
    clock = Clock()
    kube = Kube(credentials.login, clock=clock)
    try:
        assert (await refusal(kube, namespace)).status == 401
        # The token changed: the 401 makes the client read it again, and the call goes
        # through as `a` (who may not read Leases: a 403 naming the user).
        write_token_kubeconfig(cluster, kubeconfig, token["a"])
        error = await refusal(kube, namespace)
        assert error.status == 403
        assert f'"system:serviceaccount:{namespace}:a"' in error.message
        # Rotated again, to another identity: taken up once a minute has passed.
        write_token_kubeconfig(cluster, kubeconfig, token["b"])
        clock.now += RELOGIN_SECONDS - 1
        assert f'"system:serviceaccount:{namespace}:a"' in (await refusal(kube, namespace)).message
        clock.now += 1
        assert f'"system:serviceaccount:{namespace}:b"' in (await refusal(kube, namespace)).message
    finally:
        await kube.close()
