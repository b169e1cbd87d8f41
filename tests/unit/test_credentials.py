"""Where the operator's credentials come from when it is not in a pod: the kubeconfig."""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest
import yaml

from turnout_operator.kube.credentials import in_cluster_server, login

pytestmark = pytest.mark.unit


def kubeconfig(path: Path, current: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c1", "cluster": {"server": "https://10.1.0.1:6443"}},
                    {
                        "name": "c2",
                        "cluster": {
                            "server": "https://127.0.0.1:7443",
                            "certificate-authority-data": "Q0E=",
                        },
                    },
                ],
                "users": [
                    {"name": "token-user", "user": {"token": "abc"}},
                    {
                        "name": "cert-user",
                        "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"},
                    },
                ],
                "contexts": [
                    {"name": "one", "context": {"cluster": "c1", "user": "token-user"}},
                    {"name": "two", "context": {"cluster": "c2", "user": "cert-user"}},
                ],
                "current-context": current,
            }
        )
    )
    return path


def test_the_current_context_of_the_kubeconfig_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "one", "one")))
    info = login()
    assert info.server == "https://10.1.0.1:6443"
    assert info.as_http_headers() == {"Authorization": "Bearer abc"}
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "two", "two")))
    info = login()
    assert info.server == "https://127.0.0.1:7443"
    assert (info.ca_data, info.certificate_data, info.private_key_data) == (
        "Q0E=",
        "Q0VSVA==",
        "S0VZ",
    )
    assert info.as_http_headers() == {}


def test_without_a_kubeconfig_login_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config there
    with pytest.raises(kopf.LoginError, match="no kubeconfig"):
        login()


def test_in_a_pod_the_api_server_is_where_kubernetes_says() -> None:
    assert in_cluster_server({}) is None
    assert in_cluster_server({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) is None
    assert (
        in_cluster_server({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
        == "https://10.0.0.1:443"
    )
    assert (
        in_cluster_server({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"})
        == "https://[fd00::1]:6443"
    )
