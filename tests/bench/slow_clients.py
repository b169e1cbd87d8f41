"""`python -m tests.bench.slow_clients PORT COUNT`: COUNT callers that drip request heads.

Each connection sends the start of a request head and then one more byte a
second, forever; when the router cuts it off (408 at its header deadline) it
connects again. Runs until SIGTERM; then prints, on one line of JSON, how many
connections were opened and how many answers were 408s.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

HEAD_START = b"POST /v1/predict HTTP/1.1\r\nHost: bench\r\nX-Drip: "


async def drip(port: int, counts: dict[str, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts["refused"] += 1
            await asyncio.sleep(1)
            continue
        counts["opened"] += 1
        try:
            writer.write(HEAD_START)
            while True:
                try:
                    answer = await asyncio.wait_for(reader.read(64), 1.0)
                except TimeoutError:
                    writer.write(b"a")  # one more byte of a head that never ends
                    continue
                if answer.startswith(b"HTTP/1.1 408"):
                    counts["answered_408"] += 1
                break
        except OSError:
            counts["broken"] += 1
        finally:
            writer.close()


async def main(port: int, count: int) -> None:
    counts = {"opened": 0, "answered_408": 0, "broken": 0, "refused": 0}
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = []
    for _ in range(count):
        tasks.append(asyncio.create_task(drip(port, counts, stop)))
        await asyncio.sleep(0.001)  # not one burst: the listen backlog would overflow
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
