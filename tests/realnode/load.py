"""A steady load through a Service: half keep-alive connections, half new ones.

Each worker thread sends one request after another (a short pause between) and records
every failure: a refused or reset connection, a connection closed under a request, a
timeout, a status other than 200, a body from a route the Router does not have, or a
response that does not name the Router version that served it. `http.client`
reconnects by itself after a `Connection: close` response, as clients do.

Every answered request is also recorded with the time it was sent and the version in
its `Turnout-Router-Version` header, so that a test can ask which versions served the
requests sent after some moment it marked (`versions_since`): an order of events, read
from the test's own marks, never a duration.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ROUTES = frozenset({"control", "treatment-1"})
VERSION_HEADER = "Turnout-Router-Version"


@dataclass(frozen=True)
class Served:
    """One answered request: when it was sent (time.monotonic) and the version that served it."""

    sent_at: float
    version: str


@dataclass
class Load:
    url: str
    workers: int = 8
    pause: float = 0.05
    timeout: float = 10.0
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for index in range(self.workers):
            thread = threading.Thread(target=self._run, args=(index % 2 == 0, index), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def versions(self) -> Counter[str]:
        """How many answered requests each Router version served."""
        with self._lock:
            return Counter(s.version for s in self.served)

    def versions_since(self, moment: float, until: float = float("inf")) -> Counter[str]:
        """The versions that served the requests sent in [moment, until) (time.monotonic)."""
        with self._lock:
            return Counter(s.version for s in self.served if moment <= s.sent_at < until)

    def _connect(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        return http.client.HTTPConnection(
            parts.hostname or "", parts.port or 80, timeout=self.timeout
        )

    def _exchange(
        self, connection: http.client.HTTPConnection, path: str, unit: int, keep_alive: bool
    ) -> tuple[str | None, str | None]:
        """Send one request: (the serving version, None) or (None, what went wrong)."""
        body = json.dumps({"client": {"id": unit}})
        headers = {"Content-Type": "application/json", "Turing-Req-ID": f"load-{unit}"}
        if not keep_alive:
            headers["Connection"] = "close"
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        data = response.read()
        route = json.loads(data).get("route") if response.status == 200 else None
        if route not in ROUTES:
            return None, f"status {response.status}: {data[:200]!r}"
        version = response.getheader(VERSION_HEADER)
        if not version:
            return None, f"no {VERSION_HEADER} header: {response.getheaders()}"
        return version, None

    def _run(self, keep_alive: bool, index: int) -> None:
        path = urlsplit(self.url).path
        connection = self._connect()
        unit = index
        while not self._stop.is_set():
            unit += self.workers
            started = time.monotonic()
            try:
                version, problem = self._exchange(connection, path, unit, keep_alive)
            except (OSError, http.client.HTTPException, ValueError) as error:
                version, problem = None, f"{type(error).__name__}: {error}"
                connection.close()
            with self._lock:
                self.sent += 1
                if problem is not None or version is None:
                    self.failures.append(f"{'keep-alive' if keep_alive else 'new'}: {problem}")
                else:
                    self.latencies.append(time.monotonic() - started)
                    self.served.append(Served(started, version))
            if not keep_alive:
                connection.close()
            self._stop.wait(self.pause)
        connection.close()
