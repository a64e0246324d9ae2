"""SQS's named SQL (store/queries/<dialect>/sqs.sql) reads and writes the columns the named rows
expect, in their order, in both dialects."""

from __future__ import annotations

import pytest

from tsunagi.store import queries
from tsunagi.store.sqs import MSG_COLS, QUEUE_COLS, MoveTaskRow, NewMessage


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_queries_read_and_write_the_named_rows_columns(dialect: str) -> None:
    q = queries.load("sqs", dialect)
    for name in ("claim", "claim_ids", "reclaim"):
        assert " ".join(q[name].split()).endswith(f"RETURNING {MSG_COLS}"), name
    for name in ("queue_by_name", "queue_by_id", "queue_by_arn", "all_queues"):
        assert q[name].startswith(f"SELECT {QUEUE_COLS} FROM sqs_queues"), name
    inserted = f"INSERT INTO sqs_messages (queue_id, {', '.join(NewMessage._fields)})"
    assert q["insert_messages"].startswith(inserted) and q["insert_fifo"].startswith(inserted)
    assert q.expand("insert_messages", 2).count("?") == 2 * (len(NewMessage._fields) + 1)
    for name in ("move_task", "move_tasks"):
        assert q[name].startswith(f"SELECT {', '.join(MoveTaskRow._fields)} FROM"), name


def _row(n: int, **kw: object) -> NewMessage:
    base = NewMessage(f"m{n}", f"body {n}", "d" * 32, None, None, None, None, "AIDASENDER", 1000 + n, 1000 + n,
                      2000 + n, None, None, 0, f"1-trace-{n}", None)
    return base._replace(**kw)


_SHAPES = [
    {},                                                         # plain: the lean statement
    {"body": "", "sealed": b"\x03sealed\x00blob"},              # sealed: the lean sealed statement
    {"attrs": '{"a":1}', "md5_attrs": "e" * 32},                # with attributes: the full statement
    {"trace_header": "Root=1-abc", "md5_sys": "f" * 32},
    {"group_id": "g1"},                                         # a group id on a standard queue
    {"trace_id": None},
    {"body": "", "sealed": b"\x01kms", "md5_attrs": "e" * 32},  # sealed with attributes
]


@pytest.mark.parametrize("shape", range(len(_SHAPES)))
def test_inserted_messages_are_stored_as_given_whichever_statement_inserts_them(tmp_path, shape: int) -> None:
    """insert, insert_many, insert_in and insert_rows_in pick a statement without NULL parameters for
    the usual message; every shape of row is stored column for column as given, alone, in a batch of
    its own shape, in a batch mixing it with the others, and inside a transaction (SNS fan-out)."""
    import asyncio

    from tsunagi.store.base import open_store
    from tsunagi.store.sqs import SqsRepo

    async def body() -> None:
        store = open_store(f"sqlite:///{tmp_path}/t.db", str(tmp_path))
        await store.open()
        try:
            repo = SqsRepo(store)
            qid = await repo.create_queue("123456789012", "us-east-1", "q", "arn:aws:sqs:us-east-1:123456789012:q",
                                          False, "{}", "{}", None, 1)
            one = _row(0, **_SHAPES[shape])
            same = [_row(i, **_SHAPES[shape]) for i in (1, 2, 3)]
            mixed = [_row(10 + i, **kw) for i, kw in enumerate(_SHAPES)]
            other = await repo.create_queue("123456789012", "us-east-1", "q2", "arn:aws:sqs:us-east-1:123456789012:q2",
                                            False, "{}", "{}", None, 1)
            await repo.insert(qid, one)
            await repo.insert_many(qid, same)
            await repo.insert_many(qid, mixed)
            in_tx = [_row(20 + i, **_SHAPES[shape]) for i in range(4)]     # as SNS fan-out inserts them
            async with store.transaction() as tx:
                await repo.insert_in(tx, qid, in_tx[0])
                await repo.insert_rows_in(tx, [(qid, in_tx[1]), (other, in_tx[2]), (qid, in_tx[3])])
                await repo.insert_rows_in(tx, [(other, r) for r in mixed])

            async def stored(queue_id: int) -> list[NewMessage]:
                rows = await store.fetchall(f"SELECT {', '.join(NewMessage._fields)} FROM sqs_messages "
                                            "WHERE queue_id = ? ORDER BY id", (queue_id,))
                return [NewMessage(*(bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else v for v in r))
                        for r in rows]

            assert await stored(qid) == [one, *same, *mixed, in_tx[0], in_tx[1], in_tx[3]]
            assert await stored(other) == [in_tx[2], *mixed]
        finally:
            await store.close()

    asyncio.run(body())
