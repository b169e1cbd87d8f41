"""Turnout data plane: the experiment-aware HTTP router that runs in router pods.

`config` is the router config file's model (shared with the operator, which
writes it); `proxy` is the hot path of one request; `server`, `upstream` and
`engine` are its HTTP server, upstream pools and supervised plugin; `rules`,
`selection`, `requestid` and `http11` are the pure pieces the hot path uses.
"""
