"""Packed JSON (`packing`) and the compact version record kept between passes."""

from __future__ import annotations

import dataclasses
import json
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest

from turnout_operator.cache.compact_record import CompactRecord, kept_record
from turnout_operator.cache.packing import Packer
from turnout_operator.store import VersionRecord, VersionStatus

pytestmark = pytest.mark.unit


def deployment(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"namespace": "ns", "name": f"router-{index}", "resourceVersion": str(index)},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "router",
                            "image": "ghcr.io/turnout/router:0.1.0",
                            "args": ["--config", f"/etc/turnout/router-{index}.yaml"],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ]
                }
            },
        },
        "status": {"observedGeneration": 1, "readyReplicas": 2, "ratio": 0.25, "ok": True},
    }


def test_what_is_packed_unpacks_equal_and_fresh_each_time() -> None:
    packer = Packer()
    body = deployment(1)
    packed = packer.pack("Deployment", body)
    first = packer.unpack("Deployment", packed)
    assert first == body
    first["spec"]["replicas"] = 99
    assert packer.unpack("Deployment", packed) == body
    assert packer.unpack("Deployment", packed) is not packer.unpack("Deployment", packed)


def test_a_family_keeps_its_first_dictionary_and_families_are_apart() -> None:
    packer = Packer()
    bodies = [deployment(index) for index in range(5)]
    packed = [packer.pack("Deployment", body) for body in bodies]
    other = {"kind": "ConfigMap", "data": {"config.yaml": "routes: []\n" * 20}}
    packed_other = packer.pack("ConfigMap", other)
    # Later documents of one family do not change what earlier ones unpack to.
    assert [packer.unpack("Deployment", item) for item in packed] == bodies
    assert packer.unpack("ConfigMap", packed_other) == other
    assert len(packer) == 2
    with pytest.raises(zlib.error):
        packer.unpack("ConfigMap", packed[1])  # packed against another dictionary


def test_a_document_like_the_first_packs_smaller_than_zlib_alone() -> None:
    packer = Packer()
    packer.pack("Deployment", deployment(1))
    second = deployment(2)
    raw = json.dumps(second, separators=(",", ":")).encode()
    # zlib alone at its best level, without a dictionary: the bar the family must beat.
    assert len(packer.pack("Deployment", second)) * 3 < len(zlib.compress(raw, 9))


def test_a_nearly_empty_first_document_does_not_become_the_dictionary() -> None:
    packer = Packer()
    empty = packer.pack("status", {})
    assert len(packer) == 0
    packed = [packer.pack("status", deployment(index)) for index in range(3)]
    assert len(packer) == 1
    assert packer.unpack("status", empty) == {}
    assert [packer.unpack("status", item) for item in packed] == [
        deployment(index) for index in range(3)
    ]
    # The second document is packed against the first: much smaller than zlib alone.
    raw = json.dumps(deployment(1), separators=(",", ":")).encode()
    assert len(packed[1]) * 3 < len(zlib.compress(raw, 9))


def record(**changes: Any) -> VersionRecord:
    moment = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    fields: dict[str, Any] = {
        "number": 3,
        "status": VersionStatus.PENDING,
        "error": None,
        "config_hash": "ab" * 32,
        "spec": {"routes": [{"id": "a", "endpoint": "http://a/x"}], "fallbackRoute": "a"},
        "experiment_engine": {"type": "hardcoded", "config": {"x": 1}, "runnerConfig": None},
        "router_image": "turnout:1",
        "created_at": moment,
        "updated_at": moment,
        **changes,
    }
    return VersionRecord(**fields)


def test_a_kept_record_reads_as_the_record_it_was_made_from() -> None:
    original = record()
    kept = kept_record(original)
    assert isinstance(kept, CompactRecord)
    assert kept == original
    assert dataclasses.asdict(kept) == dataclasses.asdict(original)
    assert kept.spec == {"routes": [{"id": "a", "endpoint": "http://a/x"}], "fallbackRoute": "a"}
    assert kept.experiment_engine == {
        "type": "hardcoded",
        "config": {"x": 1},
        "runnerConfig": None,
    }
    assert kept_record(kept) is kept
    with pytest.raises(dataclasses.FrozenInstanceError):
        kept.number = 4  # type: ignore[misc]


def test_a_kept_record_gives_fresh_documents_and_stays_compact_when_replaced() -> None:
    kept = kept_record(record())
    kept.spec["routes"].clear()
    kept.experiment_engine["config"] = None
    assert kept == record()
    deployed = dataclasses.replace(kept, status=VersionStatus.DEPLOYED)
    assert isinstance(deployed, CompactRecord)
    assert deployed == record(status=VersionStatus.DEPLOYED)
    assert deployed != kept
    assert kept_record(record(spec={"other": True})) != kept
