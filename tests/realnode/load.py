"""A steady load through a Service: half keep-alive connections, half new ones.

Each worker thread sends one request after another (a short pause between) and records
every failure: a refused or reset connection, a connection closed under a request, a
timeout, a status other than 200, or a body from a route the Router does not have.
`http.client` reconnects by itself after a `Connection: close` response, as clients do.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ROUTES = frozenset({"control", "treatment-1"})


@dataclass
class Load:
    url: str
    workers: int = 8
    pause: float = 0.05
    timeout: float = 10.0
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
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

    def _connect(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        return http.client.HTTPConnection(
            parts.hostname or "", parts.port or 80, timeout=self.timeout
        )

    def _run(self, keep_alive: bool, index: int) -> None:
        path = urlsplit(self.url).path
        connection = self._connect()
        unit = index
        while not self._stop.is_set():
            unit += self.workers
            body = json.dumps({"client": {"id": unit}})
            headers = {"Content-Type": "application/json", "Turing-Req-ID": f"load-{unit}"}
            if not keep_alive:
                headers["Connection"] = "close"
            started = time.monotonic()
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                data = response.read()
                route = json.loads(data).get("route") if response.status == 200 else None
                problem = None if route in ROUTES else f"status {response.status}: {data[:200]!r}"
            except (OSError, http.client.HTTPException, ValueError) as error:
                problem = f"{type(error).__name__}: {error}"
                connection.close()
            with self._lock:
                self.sent += 1
                if problem is not None:
                    self.failures.append(f"{'keep-alive' if keep_alive else 'new'}: {problem}")
                else:
                    self.latencies.append(time.monotonic() - started)
            if not keep_alive:
                connection.close()
            self._stop.wait(self.pause)
        connection.close()
