"""FasterAPI: an HTTP/1.1 and HTTP/2 server written in C that runs Python
handlers in own-GIL sub-interpreters, one per core.

The low-level API lives in :mod:`fasterapi._native.http2`::

    from fasterapi._native.http2 import PyHttp2Server
"""

__version__ = "0.1.0"
