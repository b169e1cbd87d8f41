"""Where a routed request's microseconds go: each part of the hot path timed alone.

The parts the router runs in Python for one request, in order: parse the HTTP
request (httptools), mint the id, parse the JSON body, match traffic rules,
encode the GetTreatmentForRequest call (net/rpc header and gob body), pick the
route from the treatment, build the upstream request, build the response,
update metrics; and, when switched on, one access log line. The plugin round
trip and the socket work are measured by `plugin_rpc` and `router` (the
difference between the nop and Go plugin rows).
"""

from __future__ import annotations

import io
import json
import logging
import timeit
from collections.abc import Callable

import httptools

from plugin_host import gob, wire
from plugin_host.netrpc import REQUEST
from plugin_host.wire import GetTreatmentOptions, GetTreatmentRequest, Treatment
from turnout_router import http11
from turnout_router.config import RouterConfig
from turnout_router.logs import JsonFormatter
from turnout_router.metrics import RouterMetrics
from turnout_router.requestid import RequestIds
from turnout_router.rules import TrafficRules
from turnout_router.selection import RouteSelector

N = 20000
BODY = b'{"client": {"id": 4}, "features": [0.1, 0.2, 0.3]}'
RAW_REQUEST = (
    b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


class _Sink:
    def on_url(self, url: bytes) -> None: ...
    def on_header(self, name: bytes, value: bytes) -> None: ...
    def on_body(self, body: bytes) -> None: ...
    def on_message_complete(self) -> None: ...


def main() -> None:
    config = RouterConfig.model_validate(
        {
            "routes": [
                {"id": "control", "endpoint": "http://127.0.0.1:1/p"},
                {"id": "treatment-1", "endpoint": "http://127.0.0.1:1/p"},
            ],
            "fallbackRoute": "control",
            "routeNamePath": "route_name",
            "router": "bench/parts",
            "version": 1,
        }
    )
    parser = httptools.HttpRequestParser(_Sink())
    ids = RequestIds()
    rules = TrafficRules(config)
    selector = RouteSelector(config)
    match = rules.match({}, {})
    encoder = gob.Encoder()
    header = {"Content-Type": ["application/json"], "Host": ["127.0.0.1:8080"]}
    call = GetTreatmentRequest(header, BODY, GetTreatmentOptions("0123456789abcdef-1"))
    treatment = Treatment("exp_1", "control", b'{"foo":"bar","route_name":"control"}')
    reply = gob.Encoder()
    reply_bytes = reply.encode(wire.TREATMENT, treatment)
    reply_bytes = reply.encode(wire.TREATMENT, treatment)  # the second carries no definitions
    decoder = gob.Decoder()
    decoder.feed(gob.Encoder().encode(wire.TREATMENT, treatment))
    decoder.next_value(wire.TREATMENT)
    endpoint = http11.parse_endpoint("http://127.0.0.1:1/p")
    request_headers = [
        (b"Host", b"127.0.0.1:8080"),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"52"),
    ]
    upstream_headers = [
        (b"Server", b"nginx"),
        (b"Date", b"Mon, 30 Nov 2026 01:36:46 GMT"),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"19"),
        (b"Connection", b"keep-alive"),
    ]
    extra = [
        (b"Turing-Req-ID", b"0123456789abcdef-1"),
        (b"Turnout-Route", b"control"),
        (b"Turnout-Route-Reason", b"treatment"),
        (b"Turnout-Traffic-Rule", b"none"),
        (b"Turnout-Experiment", b"exp_1"),
        (b"Turnout-Treatment", b"control"),
    ]
    metrics = RouterMetrics()
    access = logging.getLogger("bench.access")
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    access.addHandler(handler)
    access.propagate = False
    access.setLevel(logging.INFO)

    def record() -> None:
        metrics.choice("control", "treatment")
        metrics.observe_engine(0.0001)
        metrics.request("control", 200, "none", 0.001)

    def decode_reply() -> None:
        decoder.feed(reply_bytes)
        decoder.next_value(wire.TREATMENT)

    parts: list[tuple[str, Callable[[], object]]] = [
        ("HTTP request parse (httptools)", lambda: parser.feed_data(RAW_REQUEST)),
        ("request id (minted)", lambda: ids.take_or_mint(None)),
        ("JSON body parse", lambda: json.loads(BODY)),
        ("traffic rules (none)", lambda: rules.match({}, {})),
        (
            "net/rpc header encode",
            lambda: encoder.encode(
                REQUEST, {"ServiceMethod": "Plugin.GetTreatmentForRequest", "Seq": 7}
            ),
        ),
        ("GetTreatmentRequest encode", lambda: encoder.encode(wire.GET_TREATMENT_REQUEST, call)),
        ("Treatment reply decode", decode_reply),
        (
            "route from treatment (cached)",
            lambda: selector.choose("exp_1", "control", treatment.config, match),
        ),
        (
            "upstream request head",
            lambda: http11.upstream_request_head(endpoint, request_headers, extra[:1], 52),
        ),
        (
            "response bytes",
            lambda: http11.response(200, upstream_headers, b'{"prediction": 0.5}', extra),
        ),
        ("metrics (3 updates)", record),
        (
            "access log line (off by default)",
            lambda: access.info(
                "request",
                extra={"request_id": "x", "route": "control", "status": 200, "duration_ms": 0.2},
            ),
        ),
    ]
    print(f"\nRouter hot path, part by part ({N} runs each, one core)")
    total = 0.0
    for name, part in parts:
        part()
        micros = timeit.timeit(part, number=N) / N * 1e6
        if "off by default" not in name:
            total += micros
        print(f"  {name:36} {micros:6.2f} µs")
    print(f"  {'sum of the parts always run':36} {total:6.2f} µs")


if __name__ == "__main__":
    main()
