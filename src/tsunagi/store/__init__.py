"""Durable state behind one interface: SQLite (default) or PostgreSQL.

Services never see sqlite3 or psycopg: they use :class:`tsunagi.store.base.Store`.
"""

from tsunagi.store.base import Store, StoreError, open_store

__all__ = ["Store", "StoreError", "open_store"]
