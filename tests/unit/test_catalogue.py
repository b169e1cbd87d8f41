"""The ExperimentEngine status: what it shows, what it hides, how it is bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from plugin_host.wire import (
    Client,
    Engine,
    Experiment,
    StandardExperimentManagerConfig,
    Variable,
    Variant,
)
from turnout_operator.api.engine import MAX_ITEMS, MAX_STATUS_BYTES, EngineStatus
from turnout_operator.api.engine_crd import build_crd, crd_yaml
from turnout_operator.engines.catalogue import (
    EngineFacts,
    Health,
    Listing,
    build_status,
    comparable,
    option_secrets,
    scrub,
)

pytestmark = pytest.mark.unit

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "experimentengines.turnout.dev.yaml"
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
T0_TEXT = "2027-01-15T08:00:00Z"

INFO = Engine(
    name="hardcoded",
    display_name="Hardcoded",
    type="standard",
    standard_experiment_manager_config=StandardExperimentManagerConfig(
        home_page_url="https://xp.example/home"
    ),
)


def facts(
    listing: Listing | None, *, running: bool = True, secrets: frozenset[str] = frozenset()
) -> EngineFacts:
    health = Health(running=running, last_error=None if running else "exit status 2", last_ping=T0)
    return EngineFacts("ghcr.io/x/plugin:1", health, INFO, listing, secrets)


def listing(**kwargs: object) -> Listing:
    values: dict[str, object] = {"fetched_at": T0, "clients": [], "experiments": []}
    values.update(kwargs)
    return Listing(**values)  # type: ignore[arg-type]


def test_committed_crd_is_the_generators_output() -> None:
    assert CRD_FILE.read_text() == crd_yaml()


def test_crd_is_cluster_scoped_with_the_agreed_columns() -> None:
    spec = build_crd()["spec"]
    assert spec["scope"] == "Cluster"
    assert spec["names"]["plural"] == "experimentengines"
    columns = [
        c["name"] for c in spec["versions"][0]["additionalPrinterColumns"] if "priority" not in c
    ]
    assert columns == ["Type", "Ready", "Experiments", "Age"]


def test_the_status_shows_info_health_and_catalogue() -> None:
    status = build_status(
        facts(
            listing(
                clients=[Client("c2", "bob", "pk-two"), Client("c1", "alice", "pk-one")],
                experiments=[
                    Experiment("002", "exp_2", "c1", [Variant("a"), Variant("b")]),
                    Experiment("001", "exp_1", "", [Variant("control")]),
                ],
                variables={"001": [Variable("client_id", True, "unit")], "999": []},
            )
        ),
        None,
        T0 + 5,
    )
    assert status == {
        "pluginImage": "ghcr.io/x/plugin:1",
        "engineInfo": {
            "name": "hardcoded",
            "displayName": "Hardcoded",
            "type": "standard",
            "homePageUrl": "https://xp.example/home",
        },
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "PluginRunning",
                "message": "the plugin is running and answers",
                "lastTransitionTime": "2027-01-15T08:00:05Z",
            }
        ],
        "lastPing": T0_TEXT,
        "restarts": 0,
        # Sorted by id; no passkey.
        "clients": [{"id": "c1", "username": "alice"}, {"id": "c2", "username": "bob"}],
        "experimentCount": 2,
        "experiments": [
            {"id": "001", "name": "exp_1", "clientId": "", "variants": [{"name": "control"}]},
            {
                "id": "002",
                "name": "exp_2",
                "clientId": "c1",
                "variants": [{"name": "a"}, {"name": "b"}],
            },
        ],
        # Only the listed experiments' variables.
        "variables": {
            "experiment": {"001": [{"name": "client_id", "required": True, "type": "unit"}]}
        },
        "refreshedAt": T0_TEXT,
        "truncated": False,
        "catalogueMessage": "",
    }
    EngineStatus.model_validate(status)  # the CRD's models accept it


def test_passkeys_and_secret_options_are_scrubbed_everywhere() -> None:
    secrets = frozenset(option_secrets({"clients": [{"id": "x", "passkey": "opt-secret-1"}]}))
    status = build_status(
        facts(
            listing(
                clients=[Client("c1", "alice", "s3cr3t-pass")],
                # A plugin that echoes secrets where they do not belong.
                experiments=[Experiment("e1", "leak s3cr3t-pass here", "", [])],
                variables="bad token opt-secret-1",
            ),
            secrets=secrets,
        ),
        None,
        T0,
    )
    text = json.dumps(status)
    assert "s3cr3t-pass" not in text
    assert "opt-secret-1" not in text
    assert status["experiments"][0]["name"] == "leak <hidden> here"
    assert status["catalogueMessage"] == "ListVariablesForExperiments: bad token <hidden>"


def test_option_secrets_are_values_under_secret_looking_keys() -> None:
    options = {
        "engine": {"name": "hardcoded", "type": "standard"},
        "clients": [{"id": "c1", "passkey": "abcd1234"}, {"id": "c2", "passkey": "no"}],
        "auth": {"user": "svc", "password": "hunter22"},
        "apiToken": "tok-9999",
        "count": 3,
    }
    # "svc" is under "auth" but shorter than 4 characters; ids and engine fields are not secret.
    assert option_secrets(options) == {"abcd1234", "hunter22", "tok-9999"}


def test_scrub_hides_the_longer_secret_first() -> None:
    assert scrub("key=abcdef", {"abc", "abcdef"}) == "key=<hidden>"


def test_methods_the_engine_does_not_implement_are_named() -> None:
    status = build_status(
        facts(listing(clients="not implemented", experiments="not implemented")), None, T0
    )
    assert "clients" not in status and "experiments" not in status
    assert status["catalogueMessage"] == (
        "ListClients: not implemented; ListExperiments: not implemented"
    )
    assert status["truncated"] is False


def test_more_experiments_than_fit_are_cut_and_said() -> None:
    many = [Experiment(f"e{i:04d}", f"exp {i}", "", [Variant("a")]) for i in range(MAX_ITEMS + 50)]
    status = build_status(
        facts(listing(experiments=many, variables={"e0000": [], "e0249": []})), None, T0
    )
    assert status["experimentCount"] == MAX_ITEMS + 50
    assert len(status["experiments"]) == MAX_ITEMS
    assert status["experiments"][-1]["id"] == f"e{MAX_ITEMS - 1:04d}"
    assert status["variables"]["experiment"] == {"e0000": []}  # e0249 was not shown
    assert status["truncated"] is True
    assert status["catalogueMessage"] == f"showing {MAX_ITEMS} of {MAX_ITEMS + 50} experiments"


def test_a_catalogue_over_the_byte_limit_is_cut_to_fit() -> None:
    # 200 experiments of 200 variants with 200-character names: about 8 MB.
    name = "v" * 200
    many = [
        Experiment(f"e{i:03d}", "x", "", [Variant(f"{name}{j}") for j in range(MAX_ITEMS)])
        for i in range(MAX_ITEMS)
    ]
    status = build_status(facts(listing(experiments=many)), None, T0)
    size = len(json.dumps(status, separators=(",", ":")).encode())
    assert size <= MAX_STATUS_BYTES
    assert 0 < len(status["experiments"]) < MAX_ITEMS
    assert status["truncated"] is True
    assert (
        f"of {MAX_ITEMS} experiments: the object is kept under 256 KiB"
        in status["catalogueMessage"]
    )


def test_long_strings_are_cut_to_what_the_crd_accepts() -> None:
    status = build_status(facts(listing(clients=[Client("c" * 300, "u", "")])), None, T0)
    assert status["clients"][0]["id"] == "c" * 253
    assert status["truncated"] is True
    EngineStatus.model_validate(status)


def test_ready_keeps_its_transition_time_until_its_status_changes() -> None:
    first = build_status(facts(None), None, T0)
    later = build_status(facts(None), first, T0 + 100)
    assert later["conditions"][0]["lastTransitionTime"] == T0_TEXT
    down = build_status(facts(None, running=False), later, T0 + 200)
    assert down["conditions"][0] == {
        "type": "Ready",
        "status": "False",
        "reason": "PluginDown",
        "message": "the plugin is not running: exit status 2",
        "lastTransitionTime": "2027-01-15T08:03:20Z",
    }


def test_an_unchanged_engine_compares_equal_across_refreshes() -> None:
    experiments = [Experiment("001", "exp_1", "", [Variant("a")])]
    first = build_status(facts(listing(experiments=experiments)), None, T0)
    # Go plugins answer in map order: the same experiments, reversed, fetched later.
    again = build_status(
        EngineFacts(
            plugin_image="ghcr.io/x/plugin:1",
            health=Health(running=True, last_ping=T0 + 60),
            info=INFO,
            listing=listing(fetched_at=T0 + 60, experiments=list(reversed(experiments))),
        ),
        first,
        T0 + 60,
    )
    assert again["refreshedAt"] != first["refreshedAt"]
    assert comparable(again) == comparable(first)
    changed = build_status(
        facts(listing(experiments=[*experiments, Experiment("002", "exp_2", "", [])])),
        first,
        T0 + 60,
    )
    assert comparable(changed) != comparable(first)
    restarted = build_status(
        EngineFacts("ghcr.io/x/plugin:1", Health(True, None, T0, restarts=1), INFO, None), first, T0
    )
    assert comparable(restarted) != comparable(first)


def test_the_crd_keeps_the_variables_map() -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    experiment = status["properties"]["variables"]["properties"]["experiment"]
    assert experiment["additionalProperties"]["type"] == "array"


def test_exactly_the_bounds_are_kept_whole() -> None:
    at_bound = [Experiment("e000", "n" * 253, "c" * 253, [Variant("v")] * MAX_ITEMS)] + [
        Experiment(f"e{i:03d}", "n", "", [Variant("v")]) for i in range(1, MAX_ITEMS)
    ]
    clients = [Client(f"c{i:03d}", "u" * 253, "") for i in range(MAX_ITEMS)]
    status = build_status(facts(listing(clients=clients, experiments=at_bound)), None, T0)
    assert status["truncated"] is False
    assert status["catalogueMessage"] == ""
    assert len(status["experiments"]) == MAX_ITEMS and len(status["clients"]) == MAX_ITEMS
    assert status["experiments"][0]["name"] == "n" * 253
    assert len(status["experiments"][0]["variants"]) == MAX_ITEMS


def test_every_cut_is_named_once() -> None:
    long = "x" * 300
    status = build_status(
        facts(
            listing(
                clients=[Client(f"c{i:03d}", long, "") for i in range(MAX_ITEMS + 1)],
                experiments=[
                    Experiment("e1", long, long, [Variant(long)] * (MAX_ITEMS + 1)),
                    Experiment(long, "b", "", [Variant("a")] * (MAX_ITEMS + 1)),
                ],
                variables={
                    "e1": [Variable(long, True, long)] * (MAX_ITEMS + 1),
                    long: [Variable("v", False, "unit")],
                    "e9": [Variable("v", False, "unit")],
                },
            )
        ),
        None,
        T0,
    )
    assert status["catalogueMessage"] == (
        f"showing {MAX_ITEMS} of {MAX_ITEMS + 1} clients; "
        "cut to 200 items or 253 characters: names, variants, ids, variables, types"
    )
    assert status["truncated"] is True
    assert [e["id"] for e in status["experiments"]] == ["e1", "x" * 253]
    assert status["experiments"][0]["clientId"] == "x" * 253
    assert len(status["experiments"][0]["variants"]) == MAX_ITEMS
    assert status["experiments"][0]["variants"][0] == {"name": "x" * 253}
    variables = status["variables"]["experiment"]
    assert sorted(variables) == ["e1", "x" * 253]  # e9 is not a listed experiment
    assert len(variables["e1"]) == MAX_ITEMS
    assert variables["e1"][0] == {"name": "x" * 253, "required": True, "type": "x" * 253}
    assert variables["x" * 253] == [{"name": "v", "required": False, "type": "unit"}]
    EngineStatus.model_validate(status)


def test_over_the_byte_limit_experiments_go_from_the_end_with_their_variables() -> None:
    name = "v" * 250
    experiments = [
        Experiment(f"e{i:03d}", "x", "", [Variant(f"{name}{j}") for j in range(60)])
        for i in range(40)
    ]
    variables = {f"e{i:03d}": [Variable("unit", True, "unit")] for i in range(40)}
    clients = [Client(f"c{i:03d}", "u" * 250, "") for i in range(150)]
    status = build_status(
        facts(listing(clients=clients, experiments=experiments, variables=variables)), None, T0
    )
    kept = [e["id"] for e in status["experiments"]]
    # Each step keeps three quarters, from the front: 40, 30, 22, 16, 12, 9, ...
    steps = [40]
    while steps[-1] > 0:
        steps.append(steps[-1] * 3 // 4)
    assert kept == [f"e{i:03d}" for i in range(len(kept))]
    assert len(kept) in steps[1:]
    assert sorted(status["variables"]["experiment"]) == kept
    assert len(status["clients"]) == 150  # experiments alone made it fit
    assert status["catalogueMessage"] == (
        f"showing {len(kept)} of 40 experiments: the object is kept under 256 KiB"
    )
    assert len(json.dumps(status, separators=(",", ":")).encode()) <= MAX_STATUS_BYTES
    # The step before did not fit: the cut is not deeper than it needs to be.
    previous = steps[steps.index(len(kept)) - 1]
    bigger = {**status, "experiments": experiments_as_shown(experiments[:previous])}
    assert len(json.dumps(bigger, separators=(",", ":")).encode()) > MAX_STATUS_BYTES


def experiments_as_shown(experiments: list[Experiment]) -> list[dict[str, object]]:
    return [
        {
            "id": e.id,
            "name": e.name,
            "clientId": e.client_id,
            "variants": [{"name": v.name} for v in e.variants],
        }
        for e in experiments
    ]


def test_comparable_leaves_out_exactly_the_moving_times() -> None:
    status = {
        "pluginImage": "i",
        "lastPing": "t1",
        "refreshedAt": "t2",
        "restarts": 1,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "r", "lastTransitionTime": "t3"}
        ],
    }
    assert comparable(status) == {
        "pluginImage": "i",
        "restarts": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "r"}],
    }
    assert comparable(None) is None
    assert comparable({"pluginImage": "i"}) == {"pluginImage": "i", "conditions": []}


def test_info_without_a_standard_config_has_no_home_page() -> None:
    custom = Engine(name="c", display_name="C", type="custom")
    status = build_status(
        EngineFacts("img", Health(running=False), custom, None), {"conditions": None}, T0
    )
    assert status["engineInfo"] == {
        "name": "c",
        "displayName": "C",
        "type": "custom",
        "homePageUrl": "",
    }
    assert "lastPing" not in status and "refreshedAt" not in status
    assert status["conditions"][0]["message"] == "the plugin is not running: starting"
    assert status["catalogueMessage"] == "" and status["truncated"] is False


def test_secret_options_nested_under_a_secret_key_and_scrub_order() -> None:
    options = {"credentials": [{"user": "someone", "list": ["abcd", "xyz"]}], "plain": "value"}
    assert option_secrets(options) == {"someone", "abcd"}
    # The longer secret first, whatever order they come in.
    assert scrub("pass=abcdefgh", ["abcd", "abcdefgh"]) == "pass=<hidden>"
    assert scrub("pass=abcdefgh", ["abcdefgh", "abcd"]) == "pass=<hidden>"
    assert scrub("nothing here", []) == "nothing here"


def test_each_bound_alone_sets_truncated_and_says_so() -> None:
    clients = [Client(f"c{i:03d}", "u", "") for i in range(MAX_ITEMS + 1)]
    status = build_status(facts(listing(clients=clients)), None, T0)
    assert status["truncated"] is True
    assert status["catalogueMessage"] == f"showing {MAX_ITEMS} of {MAX_ITEMS + 1} clients"

    long_id = build_status(facts(listing(clients=[Client("c" * 254, "u", "")])), None, T0)
    assert long_id["catalogueMessage"] == "cut to 200 items or 253 characters: ids"

    many = [Variable("v", False, "unit")] * (MAX_ITEMS + 1)
    exactly = [Variable("v", False, "unit")] * MAX_ITEMS
    experiments = [Experiment("a", "a", "", []), Experiment("b", "b", "", [])]
    over = build_status(
        facts(listing(experiments=experiments, variables={"a": many, "b": many})), None, T0
    )
    assert over["catalogueMessage"] == "cut to 200 items or 253 characters: variables"
    at = build_status(facts(listing(experiments=experiments, variables={"a": exactly})), None, T0)
    assert at["truncated"] is False and len(at["variables"]["experiment"]["a"]) == MAX_ITEMS

    home = Engine("h", "H", "standard", StandardExperimentManagerConfig(home_page_url="u" * 3000))
    cut_home = build_status(EngineFacts("img", Health(True), home, None), None, T0)
    assert cut_home["engineInfo"]["homePageUrl"] == "u" * 2048


def test_a_secret_inside_a_longer_one_does_not_unmask_the_rest() -> None:
    # "cde" sorts after "abcdef": hiding it first would leave "ab<hidden>f".
    assert scrub("x abcdef", ["cde", "abcdef"]) == "x <hidden>"
