"""Several tsunagi servers on one PostgreSQL database: what the multi-node and node-death tests run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import postgres
from tests.support.server import TsunagiServer


@contextmanager
def nodes_on_one_database(tmp_path: Path, name: str, count: int = 2) -> Iterator[tuple[TsunagiServer, ...]]:
    """``count`` servers sharing a fresh database ``name_…``; afterwards every server still running is
    stopped (a test may have killed some) and the database dropped. They share one master key, as
    servers sharing a database must."""
    url = postgres.share(postgres.create_database(name))
    nodes: list[TsunagiServer] = []
    try:
        for i in range(count):
            nodes.append(TsunagiServer(url, data_dir=str(tmp_path / f"node{i}")).start())
        yield tuple(nodes)
    finally:
        for node in nodes:
            node.stop()
        postgres.drop_database(url)
