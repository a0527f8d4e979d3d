"""Fixtures for the native core's tests.

Servers run as subprocesses (see helpers.ServerProcess): each test either
shares a module-wide server of apps/basic.py (`server`) or starts its own
with special settings through the `start_server` factory.  Every server is
stopped at teardown with SIGINT, and teardown fails the test if the server
did not exit with code 0 or printed a sanitizer report.
"""
import os
import resource

import pytest

import helpers


def pytest_collection_finish(session):
    """scripts/test.sh's sanitizer pass starts pytest with libasan/libubsan
    in LD_PRELOAD, because some tests import the extension in-process (test
    modules may look at LD_PRELOAD when they are imported, so this waits for
    the end of collection).  The programs the tests start must not inherit
    it (curl under a preloaded ASan hangs): they get the runtimes back only
    through helpers.native_env(), i.e. the processes that load the
    extension."""
    plain = helpers.plain_env()
    if "LD_PRELOAD" in plain:
        os.environ["LD_PRELOAD"] = plain["LD_PRELOAD"]
    else:
        os.environ.pop("LD_PRELOAD", None)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: heavy or long test (10k connections, 8 MB bodies, "
                                       "start/stop x20); the ASan pass deselects these")
    config.addinivalue_line("markers", "timing: asserts wall-clock ratios (parallelism); "
                                       "the ASan pass deselects these")


def pytest_report_header(config):
    mode = "sanitized (FA_TEST_PRELOAD=%s)" % os.environ["FA_TEST_PRELOAD"] if helpers.SANITIZED else "plain"
    return [f"fasterapi native tests: {mode}; PYTHONPATH={os.environ.get('PYTHONPATH', '')}"]


@pytest.fixture(scope="session", autouse=True)
def _raise_nofile_limit():
    """Tests open many sockets; take the hard limit for this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(app="basic.py", **constructor_keywords) -> a
    running helpers.ServerProcess.  All are stopped and checked at teardown."""
    started = []

    def start(app="basic.py", **config):
        srv = helpers.ServerProcess(app, workdir=tmp_path / f"srv{len(started)}", **config)
        started.append(srv)
        return srv

    yield start
    errors = []
    for srv in started:
        try:
            srv.check_clean_exit()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            srv.kill()
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A module-wide server of apps/basic.py with the seed's worker counts."""
    yield from helpers.module_server("basic.py", tmp_path_factory, "server")
