"""`crds/` at the top level is what users apply; the chart carries the same files.

The models are the one source (`make crds` writes crds/ and copies it into the chart):
the drift tests of each CRD compare crds/ with the models, and this one fails when the
chart's copy differs from crds/ by a byte, or either has a file the other lacks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TOP, CHART = ROOT / "crds", ROOT / "manifests" / "crds"


def test_the_charts_crds_are_byte_identical_to_the_top_level_ones() -> None:
    top = {path.name: path.read_bytes() for path in TOP.glob("*.yaml")}
    chart = {path.name: path.read_bytes() for path in CHART.glob("*.yaml")}
    assert sorted(chart) == sorted(top), "run `make crds` and commit crds/ and manifests/crds/"
    for name in top:
        assert chart[name] == top[name], (
            f"manifests/crds/{name} differs from crds/{name}: run `make crds`"
        )


def test_crds_holds_every_turnout_crd_and_nothing_else() -> None:
    kinds = {}
    for path in sorted(TOP.iterdir()):
        document = yaml.safe_load(path.read_text())
        assert document["kind"] == "CustomResourceDefinition", path.name
        assert path.name == f"{document['metadata']['name']}.yaml"
        kinds[document["spec"]["names"]["kind"]] = document["spec"]["group"]
    assert kinds == {
        "Router": "turnout.dev",
        "RouterVersion": "turnout.dev",
        "ExperimentEngine": "turnout.dev",
    }
