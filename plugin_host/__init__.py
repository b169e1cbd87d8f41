"""go-plugin's net/rpc protocol in pure Python, compatible with Turing's experiment engine plugins.

Host side::

    async with await PluginClient.start(PluginConfig(path="/plugins/my-engine")) as plugin:
        manager = await plugin.manager()
        info = await manager.get_engine_info()

Plugin side::

    serve(manager=MyManager(), runner=MyRunner())
"""

from plugin_host.client import PluginClient
from plugin_host.errors import (
    CallTimeoutError,
    ChecksumMismatchError,
    PluginError,
    PluginStartError,
    ProtocolError,
    RemoteError,
    TransportError,
)
from plugin_host.netrpc import MethodError
from plugin_host.process import PluginConfig
from plugin_host.server import serve
from plugin_host.supervisor import PluginSupervisor, SupervisorSettings
from plugin_host.turing import (
    ExperimentManager,
    ExperimentRunner,
    MetricsCollector,
    PluginMetricsCollector,
)
from plugin_host.turing_host import ManagerClient, RunnerClient
from plugin_host.wire import (
    Client,
    CustomExperimentManagerConfig,
    Engine,
    Experiment,
    GetTreatmentOptions,
    IncRequest,
    MeasureDurationMsSinceRequest,
    Metric,
    RecordGaugeRequest,
    RemoteUI,
    StandardExperimentManagerConfig,
    Treatment,
    Variable,
    Variant,
)

__all__ = [
    "CallTimeoutError",
    "ChecksumMismatchError",
    "Client",
    "CustomExperimentManagerConfig",
    "Engine",
    "Experiment",
    "ExperimentManager",
    "ExperimentRunner",
    "GetTreatmentOptions",
    "IncRequest",
    "ManagerClient",
    "MeasureDurationMsSinceRequest",
    "MethodError",
    "Metric",
    "MetricsCollector",
    "PluginClient",
    "PluginConfig",
    "PluginError",
    "PluginMetricsCollector",
    "PluginStartError",
    "PluginSupervisor",
    "ProtocolError",
    "RecordGaugeRequest",
    "RemoteError",
    "RemoteUI",
    "RunnerClient",
    "StandardExperimentManagerConfig",
    "SupervisorSettings",
    "TransportError",
    "Treatment",
    "Variable",
    "Variant",
    "serve",
]
