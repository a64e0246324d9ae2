"""Shared fixtures.

``server`` is a real ``tsunagi serve`` process, once on SQLite and once on PostgreSQL: every test
that uses it runs on both stores. State is wiped between tests (``POST /_tsunagi/reset``).
With ``CI=true`` the PostgreSQL runs are mandatory: an unreachable server fails them instead of skipping.
"""

from __future__ import annotations

import pytest

from tests.support import postgres
from tests.support.server import TsunagiServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: run only on the SQLite store")


def require_postgres() -> None:
    why = postgres.available()
    if why:
        if postgres.MANDATORY:
            pytest.fail(f"{why} (CI=true: PostgreSQL tests are mandatory)")
        pytest.skip(why)


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session's ``tsunagi serve`` (see ``_server``)."""
    require_postgres()
    url = postgres.share(postgres.create_database())
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="session")
def pg_service_url():
    """Another fresh PostgreSQL database, for the service-level tests that open the store themselves.
    Not the session server's: that server keeps running in the background, and its own work on its
    real clock (retention sweeps, say) would reach rows these tests write on a ManualClock years back."""
    require_postgres()
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Service-level tests: an in-memory SQLite store, or this session's service-level PostgreSQL database."""
    if request.param == "sqlite":
        return ":memory:"
    return request.getfixturevalue("pg_service_url")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def _server(request: pytest.FixtureRequest):
    if request.param == "sqlite":
        srv = TsunagiServer("sqlite")
    else:
        srv = TsunagiServer(request.getfixturevalue("pg_url"))
    srv.start()
    srv.kind = request.param
    yield srv
    srv.stop()


@pytest.fixture
def server(_server: TsunagiServer, request: pytest.FixtureRequest) -> TsunagiServer:
    if _server.kind != "sqlite" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("SQLite-only test")
    if _server.proc is None or _server.proc.poll() is not None:
        _server.start()
    _server.reset()
    return _server
