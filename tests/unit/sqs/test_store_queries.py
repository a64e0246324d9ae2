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
