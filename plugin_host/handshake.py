"""go-plugin's handshake line, parsed and built (pure).

The plugin's first stdout line is `CORE|APP|NETWORK|ADDR|PROTOCOL|CERT`;
everything else about the connection follows from it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from plugin_host.errors import ProtocolError

CORE_PROTOCOL_VERSION: Final = 1
MAX_LINE_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Handshake:
    core_version: int
    app_version: int
    network: str
    address: str
    protocol: str
    server_cert: str = ""


def parse_handshake(line: str, *, app_versions: tuple[int, ...] = (1,)) -> Handshake:
    """Parse and check a handshake line; raise `ProtocolError` saying what is wrong."""
    text = line.strip()
    shown = text if len(text) <= 200 else text[:200] + "..."
    parts = text.split("|")
    if len(parts) < 4:
        raise ProtocolError(f"unrecognized remote plugin message: {shown!r}")
    try:
        core, app = int(parts[0]), int(parts[1])
    except ValueError:
        raise ProtocolError(f"unrecognized remote plugin message: {shown!r}") from None
    if core != CORE_PROTOCOL_VERSION:
        raise ProtocolError(
            f"incompatible core API version with plugin: plugin {core}, host {CORE_PROTOCOL_VERSION}"
        )
    if app not in app_versions:
        raise ProtocolError(
            f"incompatible API version with plugin: plugin {app}, host {app_versions}"
        )
    network, address = parts[2], parts[3]
    if network not in ("unix", "tcp"):
        raise ProtocolError(f"unknown address type {network!r} in plugin handshake")
    if not address:
        raise ProtocolError("empty address in plugin handshake")
    protocol = parts[4] if len(parts) > 4 and parts[4] else "netrpc"
    if protocol != "netrpc":
        raise ProtocolError(f"plugin speaks {protocol!r}; only netrpc is supported")
    cert = parts[5] if len(parts) > 5 else ""
    return Handshake(core, app, network, address, protocol, cert)


def loopback_tcp_address(address: str) -> tuple[str, int]:
    """Split a `host:port` handshake address; refuse anything but loopback.

    A plugin chooses the address it prints; the host must not be made to dial
    elsewhere on its behalf.
    """
    host, sep, port_text = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ProtocolError(f"bad tcp address {address!r} in plugin handshake")
    try:
        is_loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise ProtocolError(
            f"plugin handshake names {address!r}; only loopback addresses are dialed"
        )
    return host, int(port_text)


def format_handshake(handshake: Handshake) -> str:
    return "|".join(
        (
            str(handshake.core_version),
            str(handshake.app_version),
            handshake.network,
            handshake.address,
            handshake.protocol,
            handshake.server_cert,
        )
    )


def negotiate_version(offered: str, supported: tuple[int, ...]) -> int | None:
    """Pick the highest version both sides know from `PLUGIN_PROTOCOL_VERSIONS`."""
    wanted = set()
    for item in offered.split(","):
        item = item.strip()
        if item.isdigit():
            wanted.add(int(item))
    common = wanted & set(supported)
    return max(common) if common else None
