"""Named SQL queries, one file per store module and dialect, loaded once.

Every statement a repository runs lives in ``store/queries/<dialect>/<module>.sql`` (``sqlite`` and
``postgres``), under a name::

    -- name: claim
    -- Claim up to n visible messages, oldest first.
    UPDATE sqs_messages SET … RETURNING …;

Both files of a module define the same names (:func:`load` checks it), so the Python code has no
dialect branches: it asks for ``q.claim`` and gets its dialect's text. Placeholders are ``?`` in
both (the PostgreSQL store translates them).

Two expansions cover statements whose shape depends on the call:

- ``{marks}``: ``?, ?, …`` (``q.expand("delete_ids", n)``), for ``IN (…)`` lists;
- ``{rows}``: the query's ``-- row: (?, ?, …)`` line repeated ``n`` times, for multi-row inserts.

Expanded texts are cached per (name, n).
"""

from __future__ import annotations

import os
import re
from functools import cache

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$")
_ROW = re.compile(r"^--\s*row:\s*(.+?)\s*$")

DIALECT_FOLDERS = {"sqlite": "sqlite", "postgresql": "postgres"}


class QueryError(Exception):
    """A queries file is malformed, or the two dialects' files do not define the same names."""


class Queries:
    """The named statements of one module in one dialect: ``q.name`` or ``q["name"]``."""

    def __init__(self, module: str, dialect: str, texts: dict[str, str], rows: dict[str, str]) -> None:
        self.module = module
        self.dialect = dialect
        self._texts = texts
        self._rows = rows
        self._expanded: dict[tuple[str, int], str] = {}
        for name, text in texts.items():
            setattr(self, name, text)

    def __getitem__(self, name: str) -> str:
        try:
            return self._texts[name]
        except KeyError:
            raise QueryError(f"no query {name!r} in {self.dialect}/{self.module}.sql") from None

    def __getattr__(self, name: str) -> str:   # only reached for names the file does not define
        raise QueryError(f"no query {name!r} in {self.dialect}/{self.module}.sql")

    def names(self) -> frozenset[str]:
        return frozenset(self._texts)

    def expand(self, name: str, n: int) -> str:
        """The query with ``{marks}`` as ``n`` placeholders and ``{rows}`` as ``n`` row tuples."""
        key = (name, n)
        text = self._expanded.get(key)
        if text is None:
            if n < 1:
                raise QueryError(f"{self.module}.{name}: expand needs at least one item")
            text = self[name]
            if "{marks}" in text:
                text = text.replace("{marks}", ", ".join(["?"] * n))
            if "{rows}" in text:
                row = self._rows.get(name)
                if row is None:
                    raise QueryError(f"{self.module}.{name} uses {{rows}} without a '-- row:' line")
                text = text.replace("{rows}", ", ".join([row] * n))
            self._expanded[key] = text
        return text


def parse(text: str, origin: str = "<queries>") -> tuple[dict[str, str], dict[str, str]]:
    """(name → statement, name → row template) from one queries file."""
    texts: dict[str, str] = {}
    rows: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []

    def close() -> None:
        if name is None:
            if any(ln.strip() and not ln.strip().startswith("--") for ln in body):
                raise QueryError(f"{origin}: SQL before the first '-- name:' line")
            return
        sql = "\n".join(ln for ln in body if ln.strip() and not ln.strip().startswith("--")).strip()
        if sql.endswith(";"):
            sql = sql[:-1].rstrip()
        if not sql:
            raise QueryError(f"{origin}: query {name!r} is empty")
        texts[name] = sql

    for line in text.splitlines():
        m = _NAME.match(line.strip())
        if m:
            close()
            name = m.group(1)
            if name in texts:
                raise QueryError(f"{origin}: query {name!r} is defined twice")
            body = []
            continue
        r = _ROW.match(line.strip())
        if r and name is not None:
            rows[name] = r.group(1)
            continue
        body.append(line)
    close()
    return texts, rows


# the query files, beside this module (as the migrations are: store/base.py)
_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries")


@cache
def _files(module: str) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    out = {}
    for dialect, folder in DIALECT_FOLDERS.items():
        with open(os.path.join(_FOLDER, folder, f"{module}.sql"), encoding="utf-8") as f:
            out[dialect] = parse(f.read(), f"{folder}/{module}.sql")
    names = {d: set(t) for d, (t, _r) in out.items()}
    if names["sqlite"] != names["postgresql"]:
        only_sqlite = sorted(names["sqlite"] - names["postgresql"])
        only_pg = sorted(names["postgresql"] - names["sqlite"])
        raise QueryError(f"queries/{module}.sql differs between dialects: only in sqlite {only_sqlite}, "
                         f"only in postgres {only_pg}")
    return out


def load(module: str, dialect: str) -> Queries:
    """The queries of ``module`` for a store's dialect (``"sqlite"`` or ``"postgresql"``)."""
    if dialect not in DIALECT_FOLDERS:
        raise QueryError(f"unknown dialect {dialect!r}")
    texts, rows = _files(module)[dialect]
    return Queries(module, dialect, texts, rows)


def modules() -> list[str]:
    """Every module that has a queries file (for the tests that check both dialects agree)."""
    return sorted(name[:-4] for name in os.listdir(os.path.join(_FOLDER, "sqlite")) if name.endswith(".sql"))
