"""The hardcoded example engine, plus clients with passkeys (as Turing's standard engines have).

Its options are the hardcoded engine's, with a `clients` list of
`{id, username, passkey}`: ListClients answers them, passkeys included, so tests
can check the operator never shows a passkey. Anything else is the example's.
Run through a launcher script (the operator starts plugins with a bare
environment): `python passkey_plugin.py`, with the repository on PYTHONPATH.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "plugins" / "hardcoded"))

from hardcoded.manager import HardcodedExperimentManager
from hardcoded.runner import HardcodedExperimentRunner

from plugin_host import serve, wire


class PasskeyManager(HardcodedExperimentManager):
    def __init__(self) -> None:
        super().__init__()
        self.clients: list[wire.Client] = []

    async def configure(self, config: bytes) -> None:
        options = json.loads(config)
        self.clients = [
            wire.Client(id=c["id"], username=c["username"], passkey=c["passkey"])
            for c in options.pop("clients", [])
        ]
        await super().configure(json.dumps(options).encode())

    async def list_clients(self) -> list[wire.Client]:
        return list(self.clients)


serve(manager=PasskeyManager(), runner=HardcodedExperimentRunner())
