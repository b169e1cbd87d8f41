"""A working plugin that also writes garbage to stdout and logs on stderr on every call."""

import logging
import sys

from plugin_host import (
    Engine,
    ExperimentManager,
    ExperimentRunner,
    GetTreatmentOptions,
    Treatment,
    serve,
)

log = logging.getLogger("noisy")


class Manager(ExperimentManager):
    async def get_engine_info(self) -> Engine:
        return Engine(name="noisy")

    async def validate_experiment_config(self, config: bytes) -> None:
        pass

    async def get_experiment_runner_config(self, config: bytes) -> bytes:
        return config


class Runner(ExperimentRunner):
    async def get_treatment_for_request(
        self, header: dict[str, list[str]], payload: bytes, options: GetTreatmentOptions
    ) -> Treatment:
        print("\x00\xffgarbage on stdout|1|2|3", flush=True)
        sys.stdout.buffer.write(b"\xfe\xfd no newline either")
        sys.stdout.flush()
        log.warning("treatment asked", extra={"request_id": options.turing_request_id})
        return Treatment("exp", "control", b"{}")


serve(manager=Manager(), runner=Runner())
