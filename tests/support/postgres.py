"""Throwaway PostgreSQL databases on the machine's server (127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

ADMIN_URL = os.environ.get("TSUNAGI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MANDATORY = os.environ.get("CI", "").lower() == "true"

# Databases that many test servers share (the session's): the TSUNAGI_MASTER_KEY each of them is given,
# as every server sharing a database must be (a server with its own key file refuses a database whose
# KMS keys another server sealed). Tests that start servers on a database of their own choose for themselves.
SHARED_MASTER_KEYS: dict[str, str] = {}


def available() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as e:  # any failure means: not available here
        return f"PostgreSQL not reachable at {ADMIN_URL}: {e}"


def share(url: str) -> str:
    """Mark ``url`` as shared by the session's servers: they all get one master key."""
    import base64

    SHARED_MASTER_KEYS[url] = base64.b64encode(os.urandom(32)).decode()
    return url


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
