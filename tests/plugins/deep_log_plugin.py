"""A working plugin whose stderr carries a JSON line nested far too deep to parse."""

import sys

from plugin_host import Engine, ExperimentManager, serve


class Manager(ExperimentManager):
    async def get_engine_info(self) -> Engine:
        sys.stderr.write('{"@level":' * 50_000 + "\n")
        sys.stderr.flush()
        return Engine(name="deep")

    async def validate_experiment_config(self, config: bytes) -> None:
        pass

    async def get_experiment_runner_config(self, config: bytes) -> bytes:
        return config


serve(manager=Manager())
