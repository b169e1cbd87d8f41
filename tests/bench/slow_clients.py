"""`python -m tests.bench.slow_clients PORT COUNT`: COUNT callers that drip request heads.

Each connection sends the start of a request head and then one more byte a
second, forever; when the router cuts it off (408 at its header deadline) it
connects again. Runs until SIGTERM; then prints, on one line of JSON, how many
connections were opened, how many answers were 408s, and the CPU seconds it used.

One thread, non-blocking sockets and one selector, with no task or timer per
connection: the generator must cost little, since it shares a CPU with the load
whose throughput is being compared (its own CPU time is printed, to check).
"""

from __future__ import annotations

import errno
import json
import resource
import selectors
import signal
import socket
import sys
import time

HEAD_START = b"POST /v1/predict HTTP/1.1\r\nHost: bench\r\nX-Drip: "
CONNECTS_PER_TICK = 50
"""New connections opened per 10 ms at most: not one burst, which would overflow the
listen backlog."""


class Dripper:
    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.selector = selectors.DefaultSelector()
        self.sockets: set[socket.socket] = set()
        self.counts = {"opened": 0, "answered_408": 0, "broken": 0, "refused": 0}
        self.stopped = False

    def connect(self) -> None:
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.setblocking(False)
        code = client.connect_ex(("127.0.0.1", self.port))
        if code not in (0, errno.EINPROGRESS):
            self.counts["refused"] += 1
            client.close()
            return
        self.counts["opened"] += 1
        self.sockets.add(client)
        self.selector.register(client, selectors.EVENT_READ)
        self.send(client, HEAD_START)

    def send(self, client: socket.socket, data: bytes) -> None:
        try:
            client.send(data)
        except BlockingIOError:
            pass  # still connecting, or the buffer is full: the next tick sends again
        except OSError:
            self.counts["broken"] += 1
            self.drop(client)

    def drop(self, client: socket.socket) -> None:
        if client in self.sockets:
            self.sockets.discard(client)
            self.selector.unregister(client)
            client.close()

    def answered(self, client: socket.socket) -> None:
        try:
            answer = client.recv(64)
        except BlockingIOError:
            return
        except OSError:
            answer = b""
            self.counts["broken"] += 1
        if answer.startswith(b"HTTP/1.1 408"):
            self.counts["answered_408"] += 1
        self.drop(client)  # answered or closed: a new caller takes its place

    def run(self) -> None:
        next_drip = time.monotonic() + 1.0
        while not self.stopped:
            for _ in range(min(CONNECTS_PER_TICK, self.count - len(self.sockets))):
                self.connect()
            timeout = max(0.0, min(0.01, next_drip - time.monotonic()))
            for key, _events in self.selector.select(timeout):
                self.answered(key.fileobj)  # type: ignore[arg-type]
            if time.monotonic() >= next_drip:
                next_drip += 1.0
                for client in list(self.sockets):
                    self.send(client, b"a")  # one more byte of a head that never ends
        for client in list(self.sockets):
            self.drop(client)


def main(port: int, count: int) -> None:
    dripper = Dripper(port, count)

    def stop(_signum: int, _frame: object) -> None:
        dripper.stopped = True

    signal.signal(signal.SIGTERM, stop)
    dripper.run()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps({**dripper.counts, "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)}),
        flush=True,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
