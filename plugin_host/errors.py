"""Exception types shared by every layer of the plugin host.

Callers need to tell three situations apart, because they react differently:

* the plugin answered with an error of its own (`RemoteError`) — the plugin is
  healthy, the request or its configuration is wrong; report the message as is;
* the connection or the process failed (`TransportError`, including timeouts) —
  the plugin is unusable; kill it and start a fresh one on the next attempt;
* the peer sent bytes that break the protocol (`ProtocolError`) — treated like a
  transport failure, with a message that says which rule was broken.
"""

from __future__ import annotations


class PluginError(Exception):
    """Base class of every error raised by `plugin_host`."""


class ProtocolError(PluginError):
    """Malformed or oversized input from the peer: gob, yamux, net/rpc or the handshake."""


class TransportError(PluginError):
    """The connection to the plugin, or the plugin process itself, is gone."""


class CallTimeoutError(TransportError):
    """A call got no answer within its deadline (go-plugin itself has none)."""


class RemoteError(PluginError):
    """The plugin's method returned an error; `message` is the plugin's own text."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.message = message


class PluginStartError(PluginError):
    """The plugin could not be started or did not complete the handshake."""


class ChecksumMismatchError(PluginStartError):
    """The plugin binary's SHA-256 differs from the pinned value; it was not executed."""
