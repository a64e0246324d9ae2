"""Throwaway PostgreSQL databases on the machine's server (127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

ADMIN_URL = os.environ.get("TSUNAGI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MANDATORY = os.environ.get("CI", "").lower() == "true"


def available() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as e:  # any failure means: not available here
        return f"PostgreSQL not reachable at {ADMIN_URL}: {e}"


def create_database(prefix: str = "tsunagi_test") -> str:
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def drop_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
