"""Admission control (max_inflight): slow coroutine and pooled handlers.

Run as `python admission_app.py '<json of PyHttp2Server keywords>'`.
"""
import asyncio
import json
import sys
import time

from fasterapi._native.http2 import PyHttp2Server


async def async_sleep(req, res):
    await asyncio.sleep(float(req['query'] or 0.5))
    res['content_type'] = 'text/plain'
    res['body'] = "slept"


def blocking_sleep(req, res):
    time.sleep(float(req['query'] or 0.5))
    res['content_type'] = 'text/plain'
    res['body'] = "slept"


def hello(req, res):
    res['content_type'] = 'text/plain'
    res['body'] = "Hello from " + req['path']


if __name__ == "__main__":
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    server = PyHttp2Server(**config)
    server.add_route("GET", "/", hello)
    server.add_route("GET", "/sleep", async_sleep)
    server.add_route("GET", "/pooled/sleep", blocking_sleep, pooled=True)
    server.start()
