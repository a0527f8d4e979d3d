"""Internal to the test apps: the `__main__` block they share.

An app in this folder is run as `python <app>.py '<json of PyHttp2Server
keywords>'` (helpers.ServerProcess); its `if __name__ == "__main__":` block
imports this module there, not at module level, so the worker interpreters,
which import the app again under another name, never load it.
"""
import json
import sys

from fasterapi._native.http2 import PyHttp2Server


def serve(routes, pooled_routes=()):
    """Builds a server from the JSON keywords in sys.argv[1] (none: the
    defaults), adds each (method, path, handler) of `routes`, and of
    `pooled_routes` with pooled=True, and runs it until it stops."""
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    server = PyHttp2Server(**config)
    for method, path, handler in routes:
        server.add_route(method, path, handler)
    for method, path, handler in pooled_routes:
        server.add_route(method, path, handler, pooled=True)
    server.start()
