"""A TCP relay from an address pods can reach to the same port on 127.0.0.1.

The control plane and Postgres listen on loopback only; pods reach this machine only
at the real node's host address (on `lo`, inside 198.18.0.0/15). This process accepts
there and copies bytes both ways to 127.0.0.1 on the same port, nothing more:

    python -m devenv.realnode.relay 198.18.255.254 6443 5432
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _serve(host: str, ports: list[int]) -> None:
    def handler(
        port: int,
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

        return relay

    servers = [await asyncio.start_server(handler(port), host, port) for port in ports]
    print(f"relaying {host} ports {ports} to 127.0.0.1", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], [int(port) for port in sys.argv[2:]]))
