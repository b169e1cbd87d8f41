"""The naive Python proxy the router is compared with: aiohttp server and client on uvloop.

What one writes first: a framework handler that reads the body, posts it
upstream with a pooled ClientSession and returns the response. No engine.
Run as `python -m tests.bench.naive_proxy <port> <upstream url>`.
"""

from __future__ import annotations

import sys

import uvloop
from aiohttp import ClientSession, TCPConnector, web


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2]

    async def on_startup(app: web.Application) -> None:
        app["session"] = ClientSession(connector=TCPConnector(limit=0))

    async def on_cleanup(app: web.Application) -> None:
        await app["session"].close()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        session: ClientSession = request.app["session"]
        async with session.post(
            upstream, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            data = await response.read()
            return web.Response(body=data, status=response.status, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/predict", handle)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
