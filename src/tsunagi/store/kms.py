"""The KMS repository: keys, their key material versions, aliases, grants and tags (``queries/*/kms.sql``).

Key material is stored sealed (encrypted under the server's master key by the service); this module
never sees it in the clear. A rotation is a compare-and-set on ``material_version`` followed by the
new material's row, in one transaction, so that two servers rotating the same key at once make one
new version, not two. Every change to a key or an alias notifies :data:`NOTIFY_CHANNEL` (payload: the
key id, or ``alias``) so that the servers sharing a PostgreSQL database drop what they cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from tsunagi.store import queries
from tsunagi.store.base import Row, Store

NOTIFY_CHANNEL = "kms"
ALIAS_CHANGED = "alias"        # the payload after an alias changed (aliases are cached by name)


class KeyRow(NamedTuple):
    key_id: str
    account: str
    region: str
    created_at: int
    description: str
    key_usage: str
    key_spec: str
    key_manager: str
    state: str
    deletion_at: int | None
    pending_days: int | None
    multi_region: int
    policy: str
    rotation_days: int | None
    next_rotation_at: int | None
    material_version: int


class MaterialRow(NamedTuple):
    key_id: str
    version: int
    sealed: bytes
    created_at: int
    rotation_type: str | None       # None for the key's first material; AUTOMATIC | ON_DEMAND


class AliasRow(NamedTuple):
    account: str
    region: str
    name: str
    key_id: str
    created_at: int
    updated_at: int


class GrantRow(NamedTuple):
    grant_id: str
    key_id: str
    account: str
    region: str
    name: str | None
    grantee: str
    retiring: str | None
    issuing_account: str
    operations: str                 # JSON list
    constraints: str | None         # JSON object
    created_at: int


class Due(NamedTuple):
    """A key whose automatic rotation is due."""

    key_id: str
    material_version: int
    next_rotation_at: int
    rotation_days: int


def _material(row: Row) -> MaterialRow:
    return MaterialRow(row[0], row[1], bytes(row[2]), row[3], row[4])   # PostgreSQL may hand back a memoryview


class KmsRepo:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.q = queries.load("kms", store.dialect)

    # == keys ==================================================================================
    async def create_key(self, key: KeyRow, material: MaterialRow, tags: Iterable[tuple[str, str]] = (),
                         alias: AliasRow | None = None) -> None:
        """The key, its first material, its tags and (for an AWS managed key) its alias, together.
        ConstraintViolation when the alias exists already."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_key, key)
            await tx.execute(self.q.insert_material, material)
            rows = [(key.key_id, k, v) for k, v in tags]
            if rows:
                await tx.executemany(self.q.put_tag, rows)
            if alias is not None:
                await tx.execute(self.q.insert_alias, alias)
                tx.notify(NOTIFY_CHANNEL, ALIAS_CHANGED)

    async def key(self, key_id: str) -> KeyRow | None:
        row = await self.store.fetchone(self.q.key, (key_id,))
        return KeyRow._make(row) if row is not None else None

    async def key_ids(self, account: str, region: str, after: str, limit: int) -> list[str]:
        return [str(r[0]) for r in await self.store.fetchall(self.q.key_ids_page, (account, region, after, limit))]

    async def _change(self, sql: str, params: Sequence[object], key_id: str) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute(sql, params)
            tx.notify(NOTIFY_CHANNEL, key_id)
        return n

    async def set_state(self, key_id: str, state: str, deletion_at: int | None = None,
                        pending_days: int | None = None) -> None:
        await self._change(self.q.set_state, (state, deletion_at, pending_days, key_id), key_id)

    async def set_description(self, key_id: str, description: str) -> None:
        await self._change(self.q.set_description, (description, key_id), key_id)

    async def set_policy(self, key_id: str, policy: str) -> None:
        await self._change(self.q.set_policy, (policy, key_id), key_id)

    async def set_rotation(self, key_id: str, days: int | None, next_at: int | None) -> None:
        await self._change(self.q.set_rotation, (days, next_at, key_id), key_id)

    async def rotate(self, key_id: str, from_version: int, material: MaterialRow,
                     scheduled: tuple[int, int] | None = None) -> bool:
        """Make ``material`` (version ``from_version + 1``) current. ``scheduled`` = (the due date the
        sweep saw, the next one) for an automatic rotation. False when another rotation got there first."""
        async with self.store.transaction() as tx:
            if scheduled is None:
                n = await tx.execute(self.q.advance_material, (key_id, from_version))
            else:
                seen, upcoming = scheduled
                n = await tx.execute(self.q.advance_material_scheduled, (upcoming, key_id, from_version, seen))
            if n == 0:
                return False
            await tx.execute(self.q.insert_material, material)
            tx.notify(NOTIFY_CHANNEL, key_id)
        return True

    async def due_deletions(self, now_ms: int, limit: int = 100) -> list[str]:
        return [str(r[0]) for r in await self.store.fetchall(self.q.due_deletions, (now_ms, limit))]

    async def due_rotations(self, now_ms: int, limit: int = 100) -> list[Due]:
        return [Due._make(r) for r in await self.store.fetchall(self.q.due_rotations, (now_ms, limit))]

    async def delete_key(self, key_id: str) -> None:
        """The key and everything that hangs off it: material, aliases, grants, tags."""
        async with self.store.transaction() as tx:
            for sql in (self.q.delete_aliases_of_key, self.q.delete_grants_of_key, self.q.delete_tags_of_key,
                        self.q.delete_materials, self.q.delete_key):
                await tx.execute(sql, (key_id,))
            tx.notify(NOTIFY_CHANNEL, key_id)
            tx.notify(NOTIFY_CHANNEL, ALIAS_CHANGED)

    # == key material ==========================================================================
    async def material(self, key_id: str, version: int) -> MaterialRow | None:
        row = await self.store.fetchone(self.q.material, (key_id, version))
        return _material(row) if row is not None else None

    async def materials(self, key_id: str) -> list[MaterialRow]:
        return [_material(r) for r in await self.store.fetchall(self.q.materials, (key_id,))]

    # == aliases ===============================================================================
    async def alias(self, account: str, region: str, name: str) -> AliasRow | None:
        row = await self.store.fetchone(self.q.alias, (account, region, name))
        return AliasRow._make(row) if row is not None else None

    async def create_alias(self, alias: AliasRow) -> None:
        """ConstraintViolation when the account already has an alias of that name in that region."""
        async with self.store.transaction() as tx:
            await tx.execute(self.q.insert_alias, alias)
            tx.notify(NOTIFY_CHANNEL, ALIAS_CHANGED)

    async def retarget_alias(self, account: str, region: str, name: str, key_id: str, now_ms: int) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.retarget_alias, (key_id, now_ms, account, region, name))
            tx.notify(NOTIFY_CHANNEL, ALIAS_CHANGED)
        return n

    async def delete_alias(self, account: str, region: str, name: str) -> int:
        async with self.store.transaction() as tx:
            n = await tx.execute(self.q.delete_alias, (account, region, name))
            tx.notify(NOTIFY_CHANNEL, ALIAS_CHANGED)
        return n

    async def aliases(self, account: str, region: str, after: str, limit: int) -> list[AliasRow]:
        return [AliasRow._make(r) for r in await self.store.fetchall(self.q.aliases_page,
                                                                     (account, region, after, limit))]

    async def aliases_of_key(self, key_id: str) -> list[AliasRow]:
        return [AliasRow._make(r) for r in await self.store.fetchall(self.q.aliases_of_key, (key_id,))]

    # == grants ================================================================================
    async def add_grant(self, grant: GrantRow) -> None:
        await self.store.execute(self.q.insert_grant, grant)

    async def grant(self, grant_id: str) -> GrantRow | None:
        row = await self.store.fetchone(self.q.grant, (grant_id,))
        return GrantRow._make(row) if row is not None else None

    async def grants_named(self, key_id: str, name: str) -> list[GrantRow]:
        return [GrantRow._make(r) for r in await self.store.fetchall(self.q.grants_named, (key_id, name))]

    async def grants(self, key_id: str, after: str, limit: int, grantee: str | None = None) -> list[GrantRow]:
        if grantee is None:
            rows = await self.store.fetchall(self.q.grants_page, (key_id, after, limit))
        else:
            rows = await self.store.fetchall(self.q.grants_of_grantee_page, (key_id, grantee, after, limit))
        return [GrantRow._make(r) for r in rows]

    async def retirable(self, account: str, region: str, retiring: str, after: str, limit: int) -> list[GrantRow]:
        return [GrantRow._make(r) for r in await self.store.fetchall(self.q.retirable_page,
                                                                     (account, region, retiring, after, limit))]

    async def delete_grant(self, grant_id: str) -> int:
        return await self.store.execute(self.q.delete_grant, (grant_id,))

    # == tags ==================================================================================
    async def tags(self, key_id: str, after: str | None = None, limit: int | None = None) -> list[tuple[str, str]]:
        if after is None or limit is None:
            rows = await self.store.fetchall(self.q.tags, (key_id,))
        else:
            rows = await self.store.fetchall(self.q.tags_page, (key_id, after, limit))
        return [(str(k), str(v)) for k, v in rows]

    async def put_tags(self, key_id: str, tags: Iterable[tuple[str, str]]) -> None:
        rows = [(key_id, k, v) for k, v in tags]
        if rows:
            async with self.store.transaction() as tx:
                await tx.executemany(self.q.put_tag, rows)

    async def delete_tags(self, key_id: str, tag_keys: Sequence[str]) -> None:
        if tag_keys:
            await self.store.execute(self.q.expand("delete_tags", len(tag_keys)), (key_id, *tag_keys))

    # == the master key check ==================================================================
    async def master_check(self) -> str | None:
        row = await self.store.fetchone(self.q.master_check)
        return str(row[0]) if row is not None else None

    async def claim_master_check(self, check_value: str) -> str:
        """Record ``check_value`` unless a value is recorded already; the value recorded."""
        await self.store.execute(self.q.set_master_check, (check_value,))
        recorded = await self.master_check()
        return recorded if recorded is not None else check_value
