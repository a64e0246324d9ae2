"""A new SQLite store made from a copy of an empty, migrated database instead of by running every migration.

A test suite starts many servers, each on a new store: the ~30 migrations' DDL cost each of them ~65M
instructions (a tenth of a start). The first server to need a schema that is not cached yet migrates its
store as ever and, a few seconds later, on a thread of its own, makes an empty database the same way (the
same migrations, in one transaction) in the user's cache directory (``$XDG_CACHE_HOME/tsunagi`` or
``~/.cache/tsunagi``); later new stores start as a copy of it. The file is named by a digest of every
migration's number, name and text and of SQLite's version, so a changed or added migration, or another
SQLite, is never served a schema it did not make. Nothing here is needed: an unwritable cache, a missing
or unreadable file, and the store migrates itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("tsunagi.store")

# bump when what a template holds changes in a way the digest does not see
_FORMAT = "1"
_KEPT = 8       # templates kept (one per migration set: checkouts of other branches share the cache)


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tsunagi")


def digest(todo: list[tuple[int, str, str]]) -> str:
    h = hashlib.sha256(f"{_FORMAT}\0{sqlite3.sqlite_version}\0".encode())
    for version, name, sql in todo:
        h.update(f"{version}\0{name}\0".encode())
        h.update(sql.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def template_path(key: str) -> str:
    return os.path.join(cache_dir(), f"sqlite-schema-{key}.db")


def copy_template(key: str, path: str) -> bool:
    """Put the cached empty database of schema ``key`` at ``path`` (which does not exist); False when
    there is none (or it cannot be copied: then nothing is left at ``path``)."""
    source = template_path(key)
    if not os.path.isfile(source):
        return False
    try:
        shutil.copyfile(source, path)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return False


def make_template(key: str, prepare: Callable[[sqlite3.Connection], None]) -> None:
    """Write the empty database of schema ``key`` to the cache: a scratch file ``prepare`` migrates,
    renamed into place once complete (two servers making it at once each rename a whole file)."""
    folder = cache_dir()
    scratch = os.path.join(folder, f".sqlite-schema-{key}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        conn = sqlite3.connect(scratch, isolation_level=None)
        try:
            prepare(conn)
        finally:
            conn.close()        # the last connection: its WAL is checkpointed into the file and removed
        os.replace(scratch, template_path(key))
    except Exception as e:  # noqa: BLE001 - a cache: the stores it would have served migrate themselves
        log.debug("no schema template in %s: %s", folder, e)
    finally:
        for leftover in (scratch, scratch + "-wal", scratch + "-shm", scratch + "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
    _prune(folder)


def _prune(folder: str) -> None:
    """Keep the newest few templates."""
    try:
        found = [os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("sqlite-schema-")]
        found.sort(key=os.path.getmtime, reverse=True)
    except OSError:
        return
    for old in found[_KEPT:]:
        with contextlib.suppress(OSError):
            os.unlink(old)
