"""The real servers the integration tests run against, started by the tests themselves.

* :mod:`tests.substrate.cluster` — etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler and kwok on loopback, from binaries built by ``make tools``;
* :mod:`tests.substrate.postgres` — a throwaway Postgres server;
* :mod:`tests.substrate.procs` — starting and stopping those processes by pid;
* :mod:`tests.substrate.fixtures` — the pytest fixtures that tie them to a session.
"""
