"""Fixtures for the application-layer tests.

Most tests use fasterapi.testclient.TestClient in-process.  The server tests
run apps/server_app.py in a subprocess with helpers.ServerProcess (from
tests/python/helpers.py, whose conftest stops every server and checks its
exit code), with two pinned worker interpreters."""
from pathlib import Path

import pytest

import helpers

APP_DIR = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """apps/server_app.py served by the native server: 2 pinned workers,
    2 pooled threads sharing 1 interpreter."""
    yield from helpers.module_server(str(APP_DIR / "server_app.py"), tmp_path_factory, "app-server")
