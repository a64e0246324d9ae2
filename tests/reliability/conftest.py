"""Crash tests own their server: a fresh one per test (SQLite file or a fresh PostgreSQL database),
started by the test, killed at the end whatever happened."""

from __future__ import annotations

import pytest

from tests.conftest import require_postgres
from tests.support import postgres
from tests.support.server import TsunagiServer


@pytest.fixture(params=["sqlite", "postgres"])
def crash_server(request, tmp_path):
    url = None
    if request.param == "sqlite":
        srv = TsunagiServer("sqlite", data_dir=str(tmp_path))
    else:
        require_postgres()
        url = postgres.create_database("tsunagi_crash")
        srv = TsunagiServer(url, data_dir=str(tmp_path))
    yield srv
    srv.kill()
    if url:
        postgres.drop_database(url)
