"""The operator's API client: how many calls it runs at once, how it names itself."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s_client

from turnout_operator.kube import USER_AGENT, Kube, load_api_client

pytestmark = pytest.mark.unit

# More than asyncio's default pool ever has (min(32, cpu_count + 4)), so a client that
# fell back to it would fail here on any machine.
CONCURRENCY = 40


async def test_as_many_calls_run_at_once_as_the_client_was_sized_for() -> None:
    kube = Kube(k8s_client.ApiClient(), concurrency=CONCURRENCY)
    # Each call returns only once all of them are running at the same time.
    everyone = threading.Barrier(CONCURRENCY, timeout=20)
    try:
        indexes = await asyncio.gather(*(kube._call(everyone.wait) for _ in range(CONCURRENCY)))
    finally:
        kube.close()
    assert sorted(indexes) == list(range(CONCURRENCY))


def test_the_client_keeps_a_connection_per_concurrent_call_and_names_itself(
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    api = load_api_client(connections=24, config_file=str(kubeconfig))
    try:
        assert api.configuration.connection_pool_maxsize == 24
        assert api.configuration.host == "https://127.0.0.1:6443"
        assert api.user_agent == "turnout-operator" == USER_AGENT
    finally:
        api.close()
