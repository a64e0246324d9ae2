"""The twin migrations cannot drift: a fresh SQLite and a fresh PostgreSQL, each migrated from
nothing, must have the same tables, the same columns (with matching types, nullability and
defaults), the same primary keys and the same indexes (name, columns, uniqueness). Also: both
dialects' query files define the same names."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import psycopg
import pytest

from tsunagi.store import queries
from tsunagi.store.base import open_store

pytestmark = pytest.mark.postgres

# Type families: the SQLite declaration and the PostgreSQL type that stand for the same thing.
_FAMILY = {
    "integer": "int", "bigint": "int", "smallint": "int", "int": "int",
    "text": "text", "character varying": "text", "varchar": "text",
    "blob": "bytes", "bytea": "bytes",
    "real": "float", "double precision": "float", "double": "float",
    "boolean": "bool",
    "jsonb": "json", "json": "json",
    "timestamp with time zone": "timestamp", "timestamptz": "timestamp",
}


def _family(declared: str) -> str:
    base = declared.strip().lower()
    base = re.sub(r"\(.*\)", "", base).strip()
    return _FAMILY.get(base, base)


def _default(value: object) -> str | None:
    """Defaults compared by their literal value (``0``, ``''``, ``NULL``), whatever the dialect's spelling."""
    if value is None:
        return None
    text = str(value).strip()
    text = re.sub(r"::[a-z ]+$", "", text)          # PostgreSQL's casts: '0'::bigint
    text = text.strip("()")
    if text.upper() == "NULL":
        return None
    if text.lower().startswith("nextval("):          # identity and serial columns: not a default
        return None
    return text.strip("'")


def sqlite_schema(path: str) -> dict[str, object]:
    conn = sqlite3.connect(path)
    tables: dict[str, object] = {}
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name <> 'tsunagi_migrations' ORDER BY name")]
    for name in names:
        cols = {}
        pk: list[tuple[int, str]] = []
        for _cid, col, typ, notnull, dflt, pkpos in conn.execute(f'PRAGMA table_info("{name}")'):
            cols[col] = (_family(typ), bool(notnull) or bool(pkpos), _default(dflt))
            if pkpos:
                pk.append((pkpos, col))
        indexes = {}
        for _seq, iname, unique, origin, _partial in conn.execute(f'PRAGMA index_list("{name}")'):
            if origin == "pk":
                continue
            icols = tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{iname}")'))
            key = iname if origin == "c" else f"unique({','.join(icols)})"
            indexes[key] = (icols, bool(unique))
        tables[name] = {"columns": cols, "primary key": tuple(c for _, c in sorted(pk)), "indexes": indexes}
    conn.close()
    return tables


def postgres_schema(url: str) -> dict[str, object]:
    tables: dict[str, object] = {}
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'tsunagi_migrations' ORDER BY tablename")]
        for name in names:
            cols = {}
            for col, typ, nullable, dflt, identity in conn.execute(
                    "SELECT column_name, data_type, is_nullable, column_default, is_identity "
                    "FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s",
                    (name,)):
                cols[col] = (_family(typ), nullable == "NO", None if identity == "YES" else _default(dflt))
            pk = tuple(r[0] for r in conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey, a.attnum)", (name,)))
            indexes = {}
            for iname, unique, constraint, icols in conn.execute(
                    "SELECT ic.relname, i.indisunique, "
                    "EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid), "
                    "ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
                    "      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) "
                    "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
                    "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary", (name,)):
                key = f"unique({','.join(icols)})" if constraint else iname
                indexes[key] = (tuple(icols), bool(unique))
            tables[name] = {"columns": cols, "primary key": pk, "indexes": indexes}
    return tables


# Tables that exist in one dialect only, on purpose.
DIALECT_ONLY = {
    "s3_blob_chunks": "postgres",   # object bodies live in the database on PostgreSQL, in files beside SQLite
    "sqs_counters": "sqlite",       # FIFO sequence numbers: a counter row on SQLite, the identity column on PostgreSQL
    "s3_sequencer": "sqlite",       # S3 event sequencers: a counter row on SQLite, a SEQUENCE on PostgreSQL
}


def _migrate_sqlite(path: str) -> None:
    async def go() -> None:
        store = open_store(f"sqlite:///{path}", "/tmp")
        await store.open()
        await store.close()
    asyncio.run(go())


def _migrate_postgres(url: str) -> None:
    async def go() -> None:
        store = open_store(url, "/tmp")
        await store.open()
        await store.close()
    asyncio.run(go())


def test_sqlite_and_postgres_migrate_to_the_same_schema(tmp_path, pg_service_url) -> None:
    from tests.support import postgres

    url = postgres.create_database()
    try:
        _migrate_postgres(url)
        pg = postgres_schema(url)
    finally:
        postgres.drop_database(url)
    path = str(tmp_path / "fresh.db")
    _migrate_sqlite(path)
    lite = sqlite_schema(path)
    problems = []
    assert len(lite) > 20 and all(t["columns"] for t in lite.values())   # the reader sees the schema
    for table in sorted(set(lite) | set(pg)):
        only = DIALECT_ONLY.get(table)
        if only is not None:
            if (only == "sqlite") != (table in lite and table not in pg):
                problems.append(f"{table}: expected only in {only}")
            continue
        if table not in pg:
            problems.append(f"{table}: only in SQLite")
            continue
        if table not in lite:
            problems.append(f"{table}: only in PostgreSQL")
            continue
        a, b = lite[table], pg[table]
        assert isinstance(a, dict) and isinstance(b, dict)
        for col in sorted(set(a["columns"]) | set(b["columns"])):
            ca, cb = a["columns"].get(col), b["columns"].get(col)
            if ca != cb:
                problems.append(f"{table}.{col}: SQLite {ca} vs PostgreSQL {cb}")
        if a["primary key"] != b["primary key"]:
            problems.append(f"{table} primary key: SQLite {a['primary key']} vs PostgreSQL {b['primary key']}")
        for index in sorted(set(a["indexes"]) | set(b["indexes"])):
            ia, ib = a["indexes"].get(index), b["indexes"].get(index)
            if ia != ib:
                problems.append(f"{table} index {index}: SQLite {ia} vs PostgreSQL {ib}")
    assert not problems, "the two migrations disagree:\n" + "\n".join(problems)


@pytest.mark.parametrize("module", queries.modules())
def test_both_dialects_define_the_same_queries(module: str) -> None:
    lite = queries.load(module, "sqlite")
    pg = queries.load(module, "postgresql")
    assert lite.names() == pg.names()
