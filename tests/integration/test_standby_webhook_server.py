"""The standby's webhook server alone: real TLS on loopback, no cluster, no plugin.

It answers AdmissionReviews with the decision of `review_router` (a nop Router
and a spec error need no plugin), refuses what is not one with HTTP 400, serves
a rotated certificate without a restart, frees its port when closed, and is off
in the same cases as the leader's (port 0, no certificate or key file).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from devenv.certs import ServingCert, make_serving_cert
from devenv.procs import free_port
from turnout_operator.runtime.settings import OperatorSettings
from turnout_operator.runtime.standby_webhook import StandbyWebhook

UID = "6f0e2a52-1b7c-4d8e-9a31-0c4b5d6e7f80"


def router(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routes": [{"id": "a", "endpoint": "http://a:8080/p", "timeout": "1s"}],
        "fallbackRoute": "a",
        "experimentEngine": {"type": "nop"},
        "routeNamePath": "route_name",
    }
    body.update(spec)
    return {"metadata": {"name": "demo"}, "spec": body}


def review(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": UID,
            "resource": {"group": "turnout.dev", "version": "v1alpha1", "resource": "routers"},
            "operation": "CREATE",
            "userInfo": {"username": "admin"},
            "object": obj,
        },
    }


def mounted(tmp_path: Path, cert: ServingCert) -> Path:
    """The files linked through `..data`, as the kubelet mounts a Secret."""
    mount = tmp_path / "mount"
    mount.mkdir()
    (mount / "..data").symlink_to(cert.cert.parent)
    (mount / "tls.crt").symlink_to(Path("..data") / cert.cert.name)
    (mount / "tls.key").symlink_to(Path("..data") / cert.key.name)
    return mount


def settings(port: int, mount: Path | None) -> OperatorSettings:
    return OperatorSettings(
        database_url=SecretStr("postgresql://x@y/z"),  # never used here
        webhook_port=port,
        webhook_cert_file=mount / "tls.crt" if mount else None,
        webhook_key_file=mount / "tls.key" if mount else None,
        engines_file=None,
    )


def handshake(port: int, ca: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pass


async def post(port: int, ca: Path, data: Any) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(ca))
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"https://127.0.0.1:{port}/validate-router", json=data, ssl=context) as r,
    ):
        return r.status, (await r.json() if r.status == 200 else await r.text())


async def test_it_answers_reviews_serves_a_rotated_certificate_and_frees_its_port(
    tmp_path: Path,
) -> None:
    first = make_serving_cert(tmp_path / "first", "turnout-webhook", ["127.0.0.1"])
    mount = mounted(tmp_path, first)
    port = free_port()
    server = await StandbyWebhook.start(settings(port, mount), cert_check_seconds=0.2)
    assert server is not None
    try:
        status, allowed = await post(port, first.ca_cert, review(router()))
        assert status == 200
        assert allowed == {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": UID, "allowed": True},
        }
        status, refused = await post(port, first.ca_cert, review(router(fallbackRoute="x")))
        assert status == 200
        assert refused["response"] == {
            "uid": UID,
            "allowed": False,
            "status": {
                "message": "spec.fallbackRoute: must be the id of one of spec.routes",
                "code": 422,
            },
        }
        status, _ = await post(port, first.ca_cert, {"kind": "AdmissionReview"})
        assert status == 400

        # Rotated like a Secret: `..data` swapped in one rename.
        second = make_serving_cert(tmp_path / "second", "turnout-webhook", ["127.0.0.1"])
        swap = mount / "..data_new"
        swap.symlink_to(second.cert.parent)
        swap.rename(mount / "..data")
        deadline = time.monotonic() + 30
        while True:
            try:
                await asyncio.to_thread(handshake, port, second.ca_cert)
                break
            except ssl.SSLError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        with pytest.raises(ssl.SSLError):  # the old certificate is gone
            await asyncio.to_thread(handshake, port, first.ca_cert)
        status, _ = await post(port, second.ca_cert, review(router()))
        assert status == 200
    finally:
        await server.close()
    with pytest.raises(ConnectionRefusedError):
        handshake(port, first.ca_cert)


async def test_it_is_off_where_the_leaders_is_off(tmp_path: Path) -> None:
    cert = make_serving_cert(tmp_path / "cert", "turnout-webhook", ["127.0.0.1"])
    assert await StandbyWebhook.start(settings(0, mounted(tmp_path, cert))) is None
    assert await StandbyWebhook.start(settings(free_port(), None)) is None
