"""A runner plugin whose RegisterMetricsCollector returns at once and never dials back.

Like a Go plugin whose method returns nil without calling `broker.Dial`: the
host's accepts for the two collector streams wait in vain. Treatments name
route `treatment-1`.
"""

from typing import Any

from plugin_host import ExperimentRunner, GetTreatmentOptions, Treatment, gob, wire
from plugin_host.broker import MuxBroker
from plugin_host.netrpc import Method
from plugin_host.server import serve_plugins
from plugin_host.turing import runner_methods


class Runner(ExperimentRunner):
    async def get_treatment_for_request(
        self, header: dict[str, list[str]], payload: bytes, options: GetTreatmentOptions
    ) -> Treatment:
        return Treatment("e", "t", b'{"route_name": "treatment-1"}')


async def accept_without_dialing(ids: Any) -> None:
    return None


def methods(broker: MuxBroker) -> dict[str, Method]:
    return {
        **runner_methods(Runner(), broker),
        "RegisterMetricsCollector": Method(wire.BROKER_IDS, gob.INTERFACE, accept_without_dialing),
    }


serve_plugins({wire.RUNNER_PLUGIN: methods})
