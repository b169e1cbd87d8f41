"""Worker count from cgroup files, and the pod's readiness from every worker's slot."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout_router.config import load_router_config
from turnout_router.cpus import (
    CgroupFormatError,
    limit_from_cfs,
    limit_from_cpu_max,
    workers_for,
)
from turnout_router.metrics import RouterMetrics
from turnout_router.podstate import SLOT_BYTES, PodState
from turnout_router.proxy import READY_PATH, Router
from turnout_router.server import Request
from turnout_router.workers import cgroup_cpu_limit

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("max 100000\n", None),
        ("200000 100000\n", 2.0),
        ("150000 100000", 1.5),
        ("50000 100000", 0.5),
        ("400000 50000", 8.0),
    ],
)
def test_cpu_max(text: str, limit: float | None) -> None:
    assert limit_from_cpu_max(text) == limit


@pytest.mark.parametrize("text", ["", "max", "abc 100000", "0 100000", "100000 0", "1 2 3"])
def test_a_cpu_max_the_kernel_would_not_write_is_an_error(text: str) -> None:
    with pytest.raises(CgroupFormatError, match="cpu.max"):
        limit_from_cpu_max(text)


def test_cfs_quota() -> None:
    assert limit_from_cfs("-1\n", "100000\n") is None
    assert limit_from_cfs("250000\n", "100000\n") == 2.5
    with pytest.raises(CgroupFormatError):
        limit_from_cfs("x", "100000")


@pytest.mark.parametrize(
    ("limit", "cpus", "workers"),
    [(None, 8, 8), (None, 0, 1), (0.25, 8, 1), (1.0, 8, 1), (1.5, 8, 2), (2.0, 1, 2), (3.01, 2, 4)],
)
def test_workers_round_the_limit_up_and_take_the_cpus_without_one(
    limit: float | None, cpus: int, workers: int
) -> None:
    assert workers_for(limit, cpus) == workers


def cgroup_tree(tmp_path: Path, files: dict[str, str], self_cgroup: str) -> tuple[Path, Path]:
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(self_cgroup)
    return root, proc


def test_v2_in_a_container_reads_the_root_cpu_max(tmp_path: Path) -> None:
    root, proc = cgroup_tree(tmp_path, {"cpu.max": "300000 100000\n"}, "0::/\n")
    assert cgroup_cpu_limit(root, proc) == 3.0


def test_v2_outside_a_container_takes_the_tightest_of_the_path(tmp_path: Path) -> None:
    root, proc = cgroup_tree(
        tmp_path,
        {
            "kubepods/cpu.max": "400000 100000\n",
            "kubepods/pod1/cpu.max": "150000 100000\n",
            "kubepods/pod1/c1/cpu.max": "max 100000\n",
        },
        "0::/kubepods/pod1/c1\n",
    )
    assert cgroup_cpu_limit(root, proc) == 1.5


def test_v1_quota_and_period(tmp_path: Path) -> None:
    root, proc = cgroup_tree(
        tmp_path,
        {"cpu,cpuacct/cpu.cfs_quota_us": "200000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
        "4:cpu,cpuacct:/\n3:memory:/\n",
    )
    assert cgroup_cpu_limit(root, proc) == 2.0


def test_no_limit_anywhere(tmp_path: Path) -> None:
    root, proc = cgroup_tree(tmp_path, {"cpu.max": "max 100000\n"}, "0::/\n")
    assert cgroup_cpu_limit(root, proc) is None
    assert cgroup_cpu_limit(tmp_path / "none", tmp_path / "none") is None


# ----- readiness of the pod


def test_slots_round_trip_and_long_details_are_cut(tmp_path: Path) -> None:
    pod = PodState.create(tmp_path / "ready", 3)
    assert pod.first_unready() == (0, "starting")
    pod.set(0, True, "engine serving")
    pod.set(1, True, "x" * 1000)
    assert pod.get(1) == (True, "x" * (SLOT_BYTES - 3))
    assert pod.first_unready() == (2, "starting")
    other = PodState(tmp_path / "ready", 3)  # another worker's view of the same file
    other.set(2, True, "engine serving")
    assert pod.first_unready() is None


async def test_a_ready_worker_answers_not_ready_while_another_worker_is_not(
    tmp_path: Path,
) -> None:
    config = load_router_config(
        {
            "routes": [{"id": "a", "endpoint": "http://127.0.0.1:1"}],
            "fallbackRoute": "a",
            "router": "n/r",
            "version": 1,
        }
    )
    pod = PodState.create(tmp_path / "ready", 2)
    router = Router(config, None, RouterMetrics(), pod=pod, worker_index=0)
    probe = Request(b"GET", READY_PATH, [], b"", True)
    pod.set(1, False, "engine not serving: plugin exited")
    answer = router.handle(probe)
    assert isinstance(answer, bytes)
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"worker 1: engine not serving: plugin exited" in answer
    pod.set(1, True, "engine serving")
    answer = router.handle(probe)
    assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 200 ")
    router.shutting_down = True
    answer = router.handle(probe)
    assert isinstance(answer, bytes) and b"worker 0: shutting down" in answer
    router.publish_readiness()
    assert pod.get(0) == (False, "shutting down")
    router.close()


def test_a_plugin_digest_must_be_64_lowercase_hex_digits() -> None:
    base = {
        "routes": [{"id": "a", "endpoint": "http://127.0.0.1:1"}],
        "fallbackRoute": "a",
        "router": "n/r",
        "version": 1,
        "experimentEngine": {"name": "e", "pluginBinary": "/p", "runnerConfig": None},
    }
    base["experimentEngine"]["pluginSha256"] = "ab" * 32  # type: ignore[index]
    assert load_router_config(base).experiment_engine.plugin_sha256 == "ab" * 32  # type: ignore[union-attr]
    base["experimentEngine"]["pluginSha256"] = "AB" * 32  # type: ignore[index]
    with pytest.raises(ValueError, match="pluginSha256"):
        load_router_config(base)
