"""The kubectl plugin's pure parts: tables, diffs, choosing a rollback target, progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from turnout_kubectl import diffing, rollback, views
from turnout_kubectl.cli import build_parser

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def stamp(seconds_ago: int) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def version(
    number: int,
    status: str,
    updated: int = 0,
    change: str = "",
    created: int = 60,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"demo-v{number}"},
        "spec": {
            "router": "demo",
            "version": number,
            "status": status,
            "createdAt": stamp(created),
            "updatedAt": stamp(updated),
            "routerSpec": {"fallbackRoute": f"r{number}"},
            "experimentEngine": {"type": "hardcoded", "pluginImage": "img:1"},
            "change": change,
            **extra,
        },
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (130, "2m10s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 300, "3h5m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (2 * 86400, "2d"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (8 * 86400 + 3600, "8d"),
        (400 * 86400, "400d"),
    ],
)
def test_age_reads_like_kubectls(seconds: int, text: str) -> None:
    assert views.age(NOW - timedelta(seconds=seconds), NOW) == text


def test_age_of_the_future_or_unknown() -> None:
    assert views.age(NOW + timedelta(seconds=5), NOW) == "0s"
    assert views.age(None, NOW) == "<unknown>"
    assert views.parse_time("not a time") is None


def test_versions_table_is_newest_first_and_marks_the_deployed_one() -> None:
    found = [
        version(1, "undeployed", change="first version", created=7200),
        version(3, "failed", change="replicas: 1 → 2", created=30, error="deadline"),
        version(2, "deployed", change="timeout: 10s → 20s", created=600),
    ]
    assert views.versions_table(found, deployed=2, now=NOW) == (
        "DEPLOYED   VERSION   STATUS       ENGINE      AGE    CHANGE\n"
        "           3         failed       hardcoded   30s    replicas: 1 → 2\n"
        "*          2         deployed     hardcoded   10m    timeout: 10s → 20s\n"
        "           1         undeployed   hardcoded   120m   first version\n"
    )
    wide = views.versions_table(found, deployed=None, now=NOW, wide=True).splitlines()
    assert wide[0].endswith("CHANGE               PLUGIN IMAGE   ERROR")
    assert wide[1].endswith("img:1          deadline")
    assert wide[2].endswith("img:1          <none>")
    assert not any(line.startswith("*") for line in wide)


ENGINE: dict[str, Any] = {
    "metadata": {"name": "hardcoded", "creationTimestamp": stamp(3600 * 5)},
    "status": {
        "engineInfo": {"name": "hardcoded", "type": "standard"},
        "conditions": [{"type": "Ready", "status": "True"}],
        "lastPing": stamp(4),
        "clients": [{"id": "1", "username": "alice"}, {"id": "2", "username": "bob"}],
        "experiments": [
            {
                "id": "001",
                "name": "exp_1",
                "clientId": "1",
                "variants": [{"name": "a"}, {"name": "b"}],
            },
            {"id": "002", "name": "exp_2", "clientId": "2", "variants": []},
        ],
        "variables": {"experiment": {"001": [{"name": "client_id", "required": True}]}},
    },
}


def test_engines_table() -> None:
    counted = {**ENGINE, "metadata": {**ENGINE["metadata"], "name": "counted"}}
    counted["status"] = {**ENGINE["status"], "experimentCount": 350, "truncated": True}
    assert views.engines_table([counted], NOW).splitlines()[1].split()[3] == "350"
    other = {
        "metadata": {"name": "another", "creationTimestamp": stamp(30)},
        "status": {"truncated": True, "experiments": [{}]},
    }
    assert views.engines_table([ENGINE, other], NOW) == (
        "NAME        TYPE       READY     EXPERIMENTS   CLIENTS   LAST PING   AGE\n"
        "another     <none>     Unknown   1+            0         <none>      30s\n"
        "hardcoded   standard   True      2             2         4s          5h\n"
    )


def test_experiments_with_their_variables_and_by_client() -> None:
    everything = views.experiments_of(ENGINE)
    assert [e["id"] for e in everything] == ["001", "002"]
    assert everything[0]["variables"] == [{"name": "client_id", "required": True}]
    assert views.experiments_table(everything) == (
        "ID    NAME    CLIENT   VARIANTS   VARIABLES\n"
        "001   exp_1   1        a,b        client_id\n"
        "002   exp_2   2        <none>     <none>\n"
    )
    assert [e["id"] for e in views.experiments_of(ENGINE, client="2")] == ["002"]
    assert views.experiments_of(ENGINE, client="3") == []


def test_clients_table_counts_experiments() -> None:
    assert views.clients_table(ENGINE) == (
        "ID   USERNAME   EXPERIMENTS\n1    alice      1\n2    bob        1\n"
    )


def test_diff_of_two_versions_shows_only_what_differs() -> None:
    old = diffing.version_document({"timeout": "10s", "b": [1]}, {"runnerConfig": {"x": 1}})
    new = diffing.version_document({"b": [1], "timeout": "20s"}, {"runnerConfig": {"x": 1}})
    assert diffing.unified(old, new, "demo v1", "demo v2") == (
        "--- demo v1\n+++ demo v2\n@@ -1,6 +1,6 @@\n"
        " spec:\n   b:\n   - 1\n-  timeout: 10s\n+  timeout: 20s\n"
        " runnerConfig:\n   x: 1\n"
    )
    assert diffing.unified(old, old, "a", "b") == ""
    hashed = diffing.version_document({}, {"runnerConfigHash": "abc", "runnerConfigSize": 9})
    assert hashed == "spec: {}\nrunnerConfig:\n  bytes: 9\n  sha256: abc\n"
    assert "runnerConfig" not in diffing.version_document({}, None)
    colored = diffing.colored("--- a\n+++ b\n@@ x @@\n-old\n+new\n same\n")
    assert colored.splitlines()[3:] == ["\x1b[31m-old\x1b[0m", "\x1b[32m+new\x1b[0m", " same"]


def test_the_live_spec_is_compared_as_a_version_records_it() -> None:
    live = {
        "routes": [{"id": "a", "endpoint": "http://a"}],
        "fallbackRoute": "a",
        "experimentEngine": {"type": "nop"},
        "suspend": False,
    }
    recorded = diffing.as_recorded(live)
    assert "suspend" not in recorded
    assert recorded["routes"] == [{"id": "a", "endpoint": "http://a", "timeout": "5s"}]
    assert recorded["trafficRules"] == []
    assert diffing.as_recorded({"bogus": 1, "suspend": True}) == {"bogus": 1}


VERSIONS = [
    version(1, "undeployed", updated=300),
    version(2, "undeployed", updated=100),
    version(3, "deployed", updated=100),
    version(4, "failed", updated=10),
]


def number(chosen: Any) -> int:
    return int(chosen["spec"]["version"])


def test_rollback_target_is_the_version_that_stopped_serving_last() -> None:
    status = {"currentVersion": 3, "deployedVersion": 3}
    assert number(rollback.choose_target(VERSIONS, status, None)) == 2
    # v1 stopped serving later than v2 (a rollback 3 → 1 → 3 happened).
    later = [version(1, "undeployed", updated=50), *VERSIONS[1:]]
    assert number(rollback.choose_target(later, status, None)) == 1
    # Same second: the higher number.
    tie = [version(1, "undeployed", updated=100), *VERSIONS[1:]]
    assert number(rollback.choose_target(tie, status, None)) == 2


def test_rollback_target_while_a_new_version_failed_is_the_one_serving() -> None:
    status = {"currentVersion": 4, "deployedVersion": 3}
    assert number(rollback.choose_target(VERSIONS, status, None)) == 3


def test_rollback_target_by_number_or_none() -> None:
    status = {"currentVersion": 3, "deployedVersion": 3}
    assert number(rollback.choose_target(VERSIONS, status, 4)) == 4
    with pytest.raises(rollback.TargetError) as missing:
        rollback.choose_target(VERSIONS, status, 9)
    assert missing.value.missing
    assert "version 9 is not among the mirrored versions (1, 2, 3, 4)" in missing.value.message
    with pytest.raises(rollback.TargetError) as nothing:
        rollback.choose_target(
            [version(1, "deployed")], {"currentVersion": 1, "deployedVersion": 1}, None
        )
    assert not nothing.value.missing


def test_leftovers_are_keys_apply_cannot_remove() -> None:
    live = {
        "suspend": False,
        "replicas": 2,
        "routes": [{"id": "a", "extra": 1}],
        "experimentEngine": {"type": "e", "config": {"a": 1, "b": {"c": 1, "d": 2}}},
    }
    target = {"routes": [{"id": "a"}], "experimentEngine": {"type": "e", "config": {"b": {"c": 2}}}}
    paths = rollback.leftovers(live, target)
    assert paths == [
        ("experimentEngine", "config", "a"),
        ("experimentEngine", "config", "b", "d"),
        ("replicas",),
    ]
    assert rollback.removal_patch(target, paths) == {
        "routes": [{"id": "a"}],
        "experimentEngine": {"type": "e", "config": {"a": None, "b": {"c": 2, "d": None}}},
        "replicas": None,
    }
    assert target["experimentEngine"]["config"] == {"b": {"c": 2}}  # not changed in place
    assert rollback.leftovers({"suspend": True, "a": 1}, {"a": 2}) == []


def router(
    observed: int | None, phase: str = "", current: int | None = None, **status: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"phase": phase, "currentVersion": current, **status}
    if observed is not None:
        body["observedGeneration"] = observed
    return {"status": body}


def test_progress_follows_the_router_until_it_serves_the_version() -> None:
    waiting = rollback.progress("demo", router(4, "Deployed", 2, deployedVersion=2), 5, 1)
    assert (waiting.done, waiting.failed) == (False, False)
    assert waiting.line == "demo: waiting for the operator to pick up generation 5"
    assert not rollback.progress("demo", {}, 5, 1).done
    rolling = rollback.progress("demo", router(5, "Deploying", 1, message="1/2 ready"), 5, 1)
    assert (rolling.done, rolling.failed, rolling.line) == (
        False,
        False,
        "demo: Deploying: 1/2 ready",
    )
    pending = rollback.progress("demo", router(5, "Pending", 2, message="db down"), 5, 1)
    assert (pending.done, pending.failed) == (False, False)
    quiet = rollback.progress("demo", router(5, "Deploying", 1), 5, 1)
    assert quiet.line == "demo: Deploying version 1"
    done = rollback.progress("demo", router(5, "Deployed", 1, deployedVersion=1), 5, 1)
    assert (done.done, done.line) == (True, "demo: Deployed at version 1")
    assert rollback.progress("demo", router(6, "Deployed", 1, deployedVersion=1), 5, 1).done
    failed = rollback.progress("demo", router(5, "Failed", 1, message="rollout failed"), 5, 1)
    assert (failed.failed, failed.line) == (True, "demo: Failed: rollout failed")
    other = rollback.progress("demo", router(5, "Deploying", 7), 5, 1)
    assert other.failed and "became version 7, not 1" in other.line


def test_usage_errors_exit_2_and_durations_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(["rollback", "demo", "--timeout", "2m", "--to", "3"])
    assert (args.timeout, args.to) == (120.0, 3)
    assert parser.parse_args(["rollback", "demo", "--timeout", "90"]).timeout == 90.0
    for bad in (
        ["rollback", "demo", "--to", "0"],
        ["rollback", "demo", "--timeout", "soon"],
        ["versions"],
        [],
    ):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(bad)
        assert exit_.value.code == 2
