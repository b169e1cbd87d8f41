"""kopf registrations: thin handlers for the operator's lifetime, its children and admission.

Each Router gets one long-lived loop (loops.py) that reconciles it, then sleeps until
something wakes it: a change to the Router, a watch event on an object it owns, a
retry that is due, or the periodic drift check. One loop per Router means passes
for one Router never overlap, and nothing is written while the loop sleeps.

The Routers themselves are listed and watched by the runtime's informer
(informer.py), not by kopf: a Router deleted during a watch gap is found by
comparing a re-list with what the loops know, which kopf's watch does not tell its
handlers. kopf watches the children (their events wake their Router's loop), serves
the admission webhook and runs startup and cleanup. Routers carry no finalizer
(deletion.py). Turnout's handlers never return values (kopf would store them in the
status).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from turnout_operator.api import GROUP, PLURAL, VERSION
from turnout_operator.api.routerversion import ROUTER_VERSION_PLURAL
from turnout_operator.builders.names import MANAGED_BY, MANAGED_BY_LABEL
from turnout_operator.kube import credentials
from turnout_operator.reconcile.admission import WEBHOOK_ID, review_router
from turnout_operator.runtime import footprint
from turnout_operator.runtime.kopf_storage import NoDiffBase
from turnout_operator.runtime.operator import LOOP_STOP_GRACE_SECONDS, Runtime
from turnout_operator.runtime.settings import OperatorSettings
from turnout_operator.runtime.webhook import webhook_server

log = logging.getLogger(__name__)

WATCH_WORKER_IDLE_SECONDS = 0.5
"""How long kopf keeps an object's watch worker after its last event (kopf's default: 5 s)."""

CHILD_SELECTORS = (
    "configmaps",
    "services",
    "apps/deployments",
    "autoscaling/horizontalpodautoscalers",
    f"{GROUP}/{ROUTER_VERSION_PLURAL}",
)

CHILD_KINDS = (
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("apps", "v1", "deployments"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    # The RouterVersion mirrors: a deleted or edited one wakes its Router, which restores it.
    (GROUP, VERSION, ROUTER_VERSION_PLURAL),
)


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: OperatorSettings = getattr(memo, "config", None) or OperatorSettings()  # type: ignore[call-arg]
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="turnout.dev")
    settings.persistence.diffbase_storage = NoDiffBase()  # no annotation patch per change
    # A per-object watch worker outlives its last event by this long (kopf: 5 s), with
    # its queue and task: thousands at once while Routers roll out. Handlers here only
    # record the event and wake a loop, so a worker is cheap to start again.
    settings.queueing.idle_timeout = WATCH_WORKER_IDLE_SECONDS
    # Filter the children's watches on the server: without it kopf would list and watch
    # every ConfigMap, Service, Deployment and HPA of the cluster and filter here.
    for resource in CHILD_SELECTORS:
        settings.watching.label_selectors[resource] = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    # The chart owns the ValidatingWebhookConfiguration (a Service reference); kopf only serves.
    settings.admission.server = webhook_server(config)
    settings.admission.managed = None
    memo.runtime = await Runtime.start(config)
    # Says what the process holds before any Router (the official client is not in it).
    log.info(
        "operator started",
        extra={"rss_mib": footprint.rss_mib(), "packages": footprint.loaded_packages()},
    )


# kopf's default login uses the official client library when it is installed; this one
# reads the service account or the kubeconfig itself, as kube.Kube does (credentials.py).
@kopf.on.login()
async def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    return credentials.login(settings)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.loops.stop(LOOP_STOP_GRACE_SECONDS)
        await runtime.close()
    # The Router loops have stopped: a standby may take over now (see lifecycle.py).
    step_down = getattr(memo, "step_down", None)
    if step_down is not None:
        await step_down()


# Event handlers are async so they run on the event loop: plain functions would run in
# kopf's thread pool, where setting an asyncio.Event or touching the cache is unsafe.
async def _child_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    owner = runtime.cache.observe(type, dict(body))
    if owner is not None:
        runtime.wakers.wake(*owner)


for _group, _version, _plural in CHILD_KINDS:
    kopf.on.event(_group, _version, _plural, labels={MANAGED_BY_LABEL: MANAGED_BY})(_child_event)


@kopf.on.validate(GROUP, VERSION, PLURAL, id=WEBHOOK_ID, operations=["CREATE", "UPDATE"])
async def validate_router(warnings: list[str], memo: kopf.Memo, **kwargs: Any) -> None:
    # kopf passes operation, old and new to webhook handlers; its WebhookFn type lists them
    # only under **kwargs.
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None:
        warnings.append("the operator is starting; the Router is checked when it reconciles")
        return
    verdict = await review_router(
        kwargs.get("operation"), kwargs.get("old"), kwargs.get("new"), runtime.engines
    )
    warnings.extend(verdict.warnings)
    if not verdict.allowed:
        raise kopf.AdmissionError(verdict.message, code=422)


# /healthz (kopf's liveness endpoint) runs this; an exception makes it answer 500.
@kopf.on.probe(id="progress", errors=kopf.ErrorsMode.PERMANENT)
async def progress_probe(memo: kopf.Memo, **_: Any) -> dict[str, int]:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is None:
        return {}
    problem = runtime.progress.problem(runtime.settings.liveness_stall_seconds)
    if problem is not None:
        log.error("operator is wedged", extra={"problem": problem})
        raise kopf.PermanentError(problem)
    return runtime.progress.summary()
