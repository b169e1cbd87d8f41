"""Turnout control plane: reconciles Router resources into router Deployments.

Where a change goes. The folders are the layers, from the top down; a module imports
only from its own folder and the folders below it (`make contracts`), and folders on
one line do not import each other.

`__main__`: the command line (run the operator, `db upgrade`, print a CRD).

`runtime/`: what runs for the operator's lifetime.
  `handlers` (kopf's registrations), `lifecycle` (startup and cleanup), `operator`
  (the object holding it all: engines, database, cache, informers, loops), `settings`,
  `informer` (Routers listed and watched; a re-list finds deletions a watch gap hid),
  `loops` (one loop per Router), `wakers`, `backoff`, `passes` (how many run at once),
  `deletion` (the one deletion path), `leader` (the Lease), `health`, `webhook` (the
  admission server), `standby_webhook`, `kopf_storage`, `footprint` (kopf's imports kept
  out).

`reconcile/`: one pass over one Router.
  `reconciler` (validate → engine → version → apply → rollout), `publish` (status and
  Events), `pacing` (which writes may wait), `verdicts`, `status`, `rollout` (pure
  decisions), `mirror` (the RouterVersion objects), `admission` (the webhook's checks).

`cache/`: what is known of each Router between passes, behind one door.
  `routers` (the door: `RouterCache`), `writer` (writes through the cache),
  `router_object` (a Router as its loop keeps it), `children` (owned objects as last
  seen), `desired`, `in_sync`, `mirrors` (memos of what was built and found),
  `compact_record` (version rows kept small), `packing` (compressed JSON).

`engines/`: the experiment engines.
  `registry` (their plugin processes), `objects` (the ExperimentEngine objects),
  `catalogue` (their status, pure).

`builders/`: pure; what a Router's objects should be.
  `desired` (versions and their objects), `objects`, `router_config`, `names`,
  `inputs`, `drift` (does an object still say what is wanted), `routerversions`.

`kube/`: the one place that talks to the API server.
  `client`, `credentials` (kopf's login readers), `event_poster`.

`api/`: the custom resources' models, sources of the CRDs (`make crds`).
  `router`, `crd`, `engine`, `engine_crd`, `routerversion`, `routerversion_crd`,
  `engine_config` (the engines file the chart writes).

`store/`: the one place that talks to Postgres (the versions).
  `repository`, `records`, `models`, `migrate`, `migrations`, `cli`, `errors`, `urls`.

`telemetry/`: used from every layer, importing none.
  `metrics` (Prometheus), `timings` (per-pass time by category).
"""
