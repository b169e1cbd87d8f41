"""Turnout control plane: reconciles Router resources into router Deployments.

Where a change goes, from the top down:

* `__main__` and `main`: the command line and kopf's handlers (one loop per Router);
* `runtime`: what lives for the operator's lifetime (engines, database, cache);
* `informer`, `deletion`: the Routers listed and watched (a re-list finds deletions
  a watch gap hid), and the one deletion path;
* `loops`, `backoff`: one loop per Router, paused during watch gaps, backing off
  after failed passes;
* `reconcile`: one pass — validate, ask the engine, record the version, apply, status;
* `verdicts`, `status`, `rollout`, `desired`, `drift`: pure decisions of a pass;
* `builders`: the desired ConfigMap, Deployment, Service and HPA (pure);
* `api`: the Router spec and status models, source of the CRD (`make crds`);
* `kube`, `store`, `engines`: the one place that talks to the API server, to
  Postgres, to the engines' plugins; `event_poster` posts Events through `kube`.
"""
