"""Everything the operator holds for its lifetime, created at startup and closed at cleanup.

The database pool, the API client, the engines' plugins, the cache of owned
objects, the Routers' informers, the Router loops and the Event poster live here, in
one object kept in kopf's `memo`, so that handlers stay thin and tests can build the
same object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable

import aiohttp

from plugin_host import PluginError
from turnout_operator.api import GROUP, VERSION
from turnout_operator.api.engine_config import EngineConfig, parse_engines
from turnout_operator.builders import BuildSettings
from turnout_operator.builders.names import MANAGED_BY, MANAGED_BY_LABEL
from turnout_operator.cache import ChildWriter, RouterCache, RouterObject
from turnout_operator.engines.objects import EngineObjects, run_engine_objects
from turnout_operator.engines.registry import EngineRegistry
from turnout_operator.kube.client import Kube, RouterGone
from turnout_operator.kube.event_poster import EventPoster
from turnout_operator.reconcile.mirror import VersionMirror
from turnout_operator.reconcile.reconciler import EventSink, Reconciler
from turnout_operator.reconcile.status import Event
from turnout_operator.runtime.backoff import Backoff
from turnout_operator.runtime.deletion import Vanished, router_deleted, router_gone
from turnout_operator.runtime.health import Progress
from turnout_operator.runtime.informer import RouterInformer
from turnout_operator.runtime.loops import PassOutcome, RouterLoops
from turnout_operator.runtime.passes import PassLimit
from turnout_operator.runtime.settings import OperatorSettings
from turnout_operator.runtime.wakers import Wakers
from turnout_operator.store import RouterRef, StoreUnavailableError, VersionStore
from turnout_operator.telemetry import metrics

log = logging.getLogger(__name__)

ENGINE_WATCH_SECONDS = 1.0
"""How often engine plugins are checked; an in-memory check, no call to the plugin."""
API_UNREACHABLE = (aiohttp.ClientConnectionError, TimeoutError)
"""A pass that raises one of these met an API server it could not reach (a retry, not a bug)."""
LOOP_STOP_GRACE_SECONDS = 10.0
"""A pass running when its loop must end gets this long to finish, then is cancelled."""


def load_engines(settings: OperatorSettings) -> list[EngineConfig]:
    """The configured engines; none (only nop) when no engines file is set."""
    if settings.engines_file is None:
        log.warning("no engines file set: only the nop engine is available")
        return []
    return parse_engines(settings.engines_file.read_text())


def build_settings(settings: OperatorSettings) -> BuildSettings:
    return BuildSettings(
        router_image=settings.router_image,
        image_pull_policy=settings.router_image_pull_policy,
        plugins_dir=settings.router_plugins_dir,
        cluster_domain=settings.cluster_domain,
        progress_deadline_seconds=settings.progress_deadline_seconds,
        default_resources=settings.router_resources,
    )


class Runtime:
    def __init__(
        self,
        settings: OperatorSettings,
        engines: EngineRegistry,
        store: VersionStore,
        kube: Kube,
        post_event: EventSink,
    ) -> None:
        self.settings = settings
        self.engines = engines
        self.store = store
        self.kube = kube
        build = build_settings(settings)
        self.cache = RouterCache(build)
        """What the operator knows of each Router and the objects it owns (the one door)."""
        self.wakers = Wakers()
        self.passes = PassLimit(settings.max_concurrent_passes)
        """Held by each reconcile pass (see OperatorSettings.max_concurrent_passes)."""
        self.progress = Progress()
        """The passes due and running, for /healthz."""
        self._background: list[asyncio.Task[None]] = []
        writer = ChildWriter(kube, self.cache.children)
        self.reconciler = Reconciler(
            api=kube,
            store=store,
            engines=engines,
            cache=self.cache,
            writer=writer,
            build=build,
            post_event=post_event,
            retry_seconds=settings.retry_seconds,
            mirror=VersionMirror(store, self.cache, writer, settings.version_mirror_limit),
        )
        self.loops = RouterLoops(
            self.run_pass,
            self.wakers,
            ended=self._loop_ended,
            echo=self.reconciler.own_write,
            gone=self._router_gone,
            backoff=Backoff(
                base=min(settings.retry_base_seconds, settings.retry_seconds),
                cap=settings.retry_seconds,
            ),
            backing_off=_log_backoff,
        )
        self._vanished = Vanished()
        self.informers: list[RouterInformer] = []
        self._gone_tasks: set[asyncio.Task[bool]] = set()
        self.poster: EventPoster | None = None

    @classmethod
    async def start(
        cls,
        settings: OperatorSettings,
        factory: Callable[[], Kube] | None = None,
    ) -> Runtime:
        engines = EngineRegistry.from_configs(
            load_engines(settings), settings.plugins_dir, settings.plugin_call_timeout
        )
        store = VersionStore.connect(settings.database_url.get_secret_value())
        concurrency = settings.max_concurrent_passes
        kube = factory() if factory else Kube(concurrency=concurrency)
        poster = EventPoster(kube.post_event, os.environ.get("HOSTNAME", "turnout-operator"))
        runtime = cls(settings, engines, store, kube, _sink(poster))
        runtime.poster = poster
        poster.start()
        runtime._unregister = metrics.register(
            metrics.RuntimeCollector(
                lambda: list(runtime.reconciler.phases.values()),
                runtime.plugin_restarts,
                lambda: len(runtime.loops.failing),
                runtime.engines_up,
            )
        )
        try:
            await runtime.prime_cache()
            await engines.start_all()
        except BaseException:
            # kopf retries the startup handler: it must find nothing of this attempt left
            # (its metrics collector registered twice would fail every retry).
            await runtime.close()
            raise
        runtime.start_background()
        runtime.start_informers()
        return runtime

    _unregister: Callable[[], None] | None = None

    def engines_up(self) -> dict[str, bool]:
        """Whether each engine's manager plugin runs and answers."""
        return {h.name: h.is_running() for h in self.engines.handles()}

    def plugin_restarts(self) -> dict[str, int]:
        """Starts after the first, per engine."""
        return {h.name: max(0, h.supervisor.starts - 1) for h in self.engines.handles()}

    def _loop_ended(self, router: RouterObject) -> None:
        self.reconciler.phases.pop(router.uid, None)  # the routers-by-phase metric

    async def run_pass(self, router: RouterObject, first: bool = False) -> PassOutcome:
        """One reconcile pass in a slot, measured; says when the next is due.

        `first`: the Router's first pass in this process (it waits behind the others).
        """
        with self.progress.due() as running:
            async with self.passes.slot(first=first):
                running()
                started = time.perf_counter()
                failed = gone = unreachable = False
                requeue: float | None = None
                try:
                    requeue = await self.reconciler.reconcile(router)
                except RouterGone:
                    gone = True
                except API_UNREACHABLE as error:
                    # Not a bug: the API server restarts or the network drops. The pass is
                    # retried after the Router's backoff, and the informer has paused the
                    # others until the Routers are listed again.
                    unreachable = True
                    log.warning(
                        "reconcile interrupted: the API server is unreachable",
                        extra={
                            "namespace": router.namespace,
                            "router": router.name,
                            "error": str(error) or type(error).__name__,
                        },
                    )
                except Exception:
                    failed = True
                    log.exception(
                        "reconcile failed",
                        extra={"namespace": router.namespace, "router": router.name},
                    )
                result = (
                    "retry"
                    if unreachable
                    else metrics.pass_result(requeue, self.settings.retry_seconds, failed)
                )
                metrics.record_pass(result, time.perf_counter() - started)
        if gone:
            return PassOutcome(0.0, gone=True)
        if result != "ok":
            return PassOutcome(self.settings.retry_seconds, failed=True)
        return PassOutcome(requeue if requeue is not None else self.settings.resync_seconds)

    def _router_gone(self, router: RouterObject) -> None:
        """A pass found its Router gone (loops.py ended the loop): mark its versions."""
        metrics.ROUTERS_DELETED.labels(source="gone").inc()
        task = asyncio.get_running_loop().create_task(router_gone(self.reconciler, router))
        self._gone_tasks.add(task)
        task.add_done_callback(self._gone_tasks.discard)

    async def prime_cache(self) -> None:
        """Load the objects Turnout owns before any Router loop starts.

        Without it the loops that start first after a restart would find the cache empty
        and apply every object again. Watch events keep the cache current from here on.
        """
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        owned = await self.kube.list_owned(self.settings.namespace_list(), selector)
        for body in owned:
            self.cache.observe(None, body)
        log.info("owned objects loaded", extra={"objects": len(owned)})

    async def router_deleted(self, router: RouterObject, source: str = "event") -> bool:
        """A Router's deletion (see deletion.py); False when its versions are left for the
        sweep (the database was unavailable)."""
        metrics.ROUTERS_DELETED.labels(source=source).inc()
        return await router_deleted(self.loops, self.reconciler, router, LOOP_STOP_GRACE_SECONDS)

    async def sweep(self) -> int:
        """Handle the Routers deleted without this operator seeing it (deletion.py): end the
        loops of those that are gone, and mark undeployed the versions of those the
        database knows; returns how many Routers' versions were marked."""
        namespaces = self.settings.namespace_list()
        serving: list[RouterRef] | None
        try:
            serving = await self.store.serving_routers()  # before the list: see deletion.py
        except StoreUnavailableError as error:
            metrics.DATABASE_ERRORS.inc()
            log.warning("sweep without the database", extra={"error": str(error)})
            serving = None
        live = await self.kube.router_uids(namespaces)
        gone = {ref.uid for ref in serving or [] if ref.uid not in live}
        vanished = self._vanished.judge(self.loops.routers(), live)
        for router in self.loops.routers():
            if router.uid in gone or router in vanished:
                log.warning(
                    "router gone without a deletion this operator saw; its loop ends",
                    extra={"namespace": router.namespace, "router": router.name},
                )
                await self.router_deleted(router, source="sweep")
        if serving is None:
            return 0
        return await self.reconciler.sweep(serving, live, namespaces)

    async def sweep_forever(self) -> None:
        """Now and then, handle the Routers deleted while the database was down, while no
        operator ran, or whose deletion the watch missed."""
        while True:
            try:
                swept = await self.sweep()
                if swept:
                    log.info(
                        "marked versions of deleted routers undeployed", extra={"routers": swept}
                    )
            except Exception as error:  # the next round tries again
                if isinstance(error, StoreUnavailableError):
                    metrics.DATABASE_ERRORS.inc()
                log.warning("sweep of deleted routers failed", extra={"error": str(error)})
            await asyncio.sleep(self.settings.resync_seconds)

    async def watch_engines(self) -> None:
        """Keep every engine's plugin running, and tell the Routers when one goes or comes back.

        The supervisor restarts a plugin only when someone asks for it; asking here (its
        backoff spaces the attempts) brings a plugin back even while no Router needs it,
        and waking the loops updates their EngineAvailable condition without waiting for
        the resync.
        """
        running = {handle.name: handle.is_running() for handle in self.engines.handles()}
        while True:
            await asyncio.sleep(ENGINE_WATCH_SECONDS)
            changed = False
            for handle in self.engines.handles():
                if not handle.is_running():
                    with contextlib.suppress(PluginError):
                        await handle.manager()
                now = handle.is_running()
                if now != running[handle.name]:
                    running[handle.name] = now
                    changed = True
                    if now:
                        log.info("engine plugin is back", extra={"engine": handle.name})
                    else:
                        log.warning(
                            "engine plugin is down",
                            extra={"engine": handle.name, "error": handle.last_error},
                        )
            if changed:
                self.wakers.wake_all()

    def start_informers(self) -> None:
        """List and watch the Routers (informer.py): one informer per watched namespace,
        or one for the whole cluster."""
        loop = asyncio.get_running_loop()
        scopes: list[str | None] = list(self.settings.namespace_list()) or [None]
        for namespace in scopes:
            informer = RouterInformer(
                self.kube,
                namespace,
                self.loops,
                deleted=self._deleted_unseen,
                relisted=self._sweep_soon,
            )
            self.informers.append(informer)
            self._background.append(loop.create_task(informer.run()))

    async def _deleted_unseen(self, router: RouterObject) -> bool:
        return await self.router_deleted(router, source="event")

    def _sweep_soon(self) -> None:
        """After a re-list: Routers the database knows and this process never saw may have
        been deleted during the gap too."""
        task = asyncio.get_running_loop().create_task(self._sweep_once())
        self._background.append(task)
        task.add_done_callback(lambda done: self._forget_task(done))

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._background.remove(task)

    async def _sweep_once(self) -> None:
        try:
            await self.sweep()
        except Exception as error:  # the periodic sweep tries again
            log.warning("sweep of deleted routers failed", extra={"error": str(error)})

    def start_background(self) -> None:
        loop = asyncio.get_running_loop()
        self._background = [
            loop.create_task(self.sweep_forever()),
            loop.create_task(self.watch_engines()),
            loop.create_task(
                run_engine_objects(
                    EngineObjects(
                        self.kube,
                        self.engines,
                        self.settings.engine_refresh_seconds,
                        clusterwide=not self.settings.namespace_list(),
                    )
                )
            ),
        ]

    async def close(self) -> None:
        if self._unregister is not None:
            self._unregister()
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for informer in self.informers:
            await informer.close()
        if self._gone_tasks:
            await asyncio.gather(*list(self._gone_tasks), return_exceptions=True)
        if self.poster is not None:
            await self.poster.close()
        await self.engines.close()
        await self.store.close()
        await self.kube.close()


def _log_backoff(router: RouterObject, failures: int, seconds: float) -> None:
    metrics.BACKOFFS.inc()
    log.warning(
        "router pass failed; backing off",
        extra={
            "namespace": router.namespace,
            "router": router.name,
            "failures": failures,
            "seconds": round(seconds, 3),
        },
    )


def _sink(poster: EventPoster) -> EventSink:
    """Posts a Router's Events through `poster`."""

    def post(router: RouterObject, event: Event) -> None:
        involved = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Router",
            "namespace": router.namespace,
            "name": router.name,
            "uid": router.uid,
        }
        poster.post(involved, event.type, event.reason, event.message)

    return post
