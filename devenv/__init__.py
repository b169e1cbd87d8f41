"""The local environment Turnout runs on for development, tests and `make demo`.

Real servers started as local processes, never mocks of them:

* :mod:`devenv.cluster` — etcd, kube-apiserver, kube-controller-manager,
  kube-scheduler and kwok on loopback, from binaries built by ``make tools``;
* :mod:`devenv.postgres` — a throwaway Postgres server;
* :mod:`devenv.procs` — starting and stopping those processes by pid;
* :mod:`devenv.gopeers` and :mod:`devenv.zipapp` — the Go peers and the Python
  example plugin, built and located.

It lives outside ``tests/`` because the demo is a user's program and must not
import the test package; the pytest fixtures in ``tests/substrate`` wrap it.
"""
