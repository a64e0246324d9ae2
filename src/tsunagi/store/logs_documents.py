"""CloudWatch Logs' account-wide documents (``queries/*/logs_documents.sql``): resource policies,
destinations, account policies and data protection policies, each a JSON document under a kind and a
name in an account and region."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Store


class DocumentRow(NamedTuple):
    name: str
    doc: str
    created_at: int
    updated_at: int

    @property
    def fields(self) -> dict[str, Any]:
        value = json.loads(self.doc)
        return value if isinstance(value, dict) else {}


class LogsDocumentsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("logs_documents", store.dialect)

    async def get(self, account: str, region: str, kind: str, name: str) -> DocumentRow | None:
        row = await self.store.fetchone(self.q.get, (account, region, kind, name))
        return DocumentRow._make(row) if row else None

    async def put(self, account: str, region: str, kind: str, name: str, doc: dict[str, Any], now_ms: int, *,
                  limit: int | None = None, only: bool = False) -> bool:
        """Create or replace; False (nothing written) when creating it would pass ``limit`` documents
        of the kind, or when ``only`` and another document of the kind exists."""
        async with self.store.transaction() as tx:
            exists = await tx.fetchone(self.q.get, (account, region, kind, name)) is not None
            if not exists:
                row = await tx.fetchone(self.q.count, (account, region, kind))
                n = int(row[0]) if row else 0
                if (limit is not None and n >= limit) or (only and n):
                    return False
            await tx.execute(self.q.upsert, (account, region, kind, name, json.dumps(doc), now_ms, now_ms))
            return True

    async def delete(self, account: str, region: str, kind: str, name: str) -> bool:
        return await self.store.execute(self.q.delete, (account, region, kind, name)) > 0

    async def list(self, account: str, region: str, kind: str, *, prefix: str | None = None, after: str | None = None,
                   limit: int = 50) -> list[DocumentRow]:
        p = prefix or None
        rows = await self.store.fetchall(self.q.list, (account, region, kind, p, p, p, after or "", limit))
        return [DocumentRow._make(r) for r in rows]
