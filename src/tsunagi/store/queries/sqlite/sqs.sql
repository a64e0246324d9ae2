-- SQS: queues, messages, FIFO deduplication, receive attempts, move tasks, the SSE-SQS key
-- (see migrations/*/0010_sqs.sql and after). Message rows are read in MessageRow's column order.

-- name: queue_by_name
-- A queue by account, region and name.
SELECT id, account, region, name, arn, fifo, attributes, tags, dlq_arn, created_at, modified_at, purged_at FROM sqs_queues WHERE account = ? AND region = ? AND name = ?;

-- name: queue_regions_by_name
-- The regions where an account has a queue of this name (to explain a QueueDoesNotExist).
SELECT region FROM sqs_queues WHERE account = ? AND name = ? ORDER BY region LIMIT 5;

-- name: queue_by_id
-- A queue by id.
SELECT id, account, region, name, arn, fifo, attributes, tags, dlq_arn, created_at, modified_at, purged_at FROM sqs_queues WHERE id = ?;

-- name: queue_by_arn
-- A queue by ARN.
SELECT id, account, region, name, arn, fifo, attributes, tags, dlq_arn, created_at, modified_at, purged_at FROM sqs_queues WHERE arn = ?;

-- name: all_queues
-- Every queue (the retention sweep).
SELECT id, account, region, name, arn, fifo, attributes, tags, dlq_arn, created_at, modified_at, purged_at FROM sqs_queues;

-- name: list_queues
-- Names of an account's queues in a region from a prefix, after a name.
SELECT name FROM sqs_queues WHERE account = ? AND region = ? AND name >= ? AND name > ?
ORDER BY name LIMIT ?;

-- name: deleted_at
-- When a queue of this name was deleted last.
SELECT deleted_at FROM sqs_deleted_queues WHERE account = ? AND region = ? AND name = ?;

-- name: create_queue
-- A new queue; its id.
INSERT INTO sqs_queues (account, region, name, arn, fifo, attributes, tags, dlq_arn, created_at, modified_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id;

-- name: forget_deleted
-- The name is in use again.
DELETE FROM sqs_deleted_queues WHERE account = ? AND region = ? AND name = ?;

-- name: delete_queue
-- Delete a queue (its messages go with it).
DELETE FROM sqs_queues WHERE id = ?;

-- name: remember_deleted
-- When a name was freed (a new queue of that name must wait 60 s).
INSERT INTO sqs_deleted_queues (account, region, name, deleted_at) VALUES (?, ?, ?, ?)
ON CONFLICT (account, region, name) DO UPDATE SET deleted_at = excluded.deleted_at;

-- name: update_queue
-- New attributes.
UPDATE sqs_queues SET attributes = ?, dlq_arn = ?, modified_at = ? WHERE id = ?;

-- name: update_tags
-- New tags.
UPDATE sqs_queues SET tags = ? WHERE id = ?;

-- name: dead_letter_sources
-- (account, name) of the queues whose RedrivePolicy targets a queue.
SELECT account, name FROM sqs_queues WHERE dlq_arn = ? AND name > ? ORDER BY name LIMIT ?;

-- name: mark_purged
-- Start a purge unless one ran within the window.
UPDATE sqs_queues SET purged_at = ? WHERE id = ? AND (purged_at IS NULL OR purged_at <= ?);

-- name: purge_messages
-- The messages a purge removes.
DELETE FROM sqs_messages WHERE queue_id = ? AND sent_at <= ?;

-- name: purge_dedup
-- PurgeQueue also forgets the queue's deduplication ids, as AWS does.
DELETE FROM sqs_dedup WHERE queue_id = ?;

-- name: purge_attempts
-- A purged queue's receive attempts.
DELETE FROM sqs_receive_attempts WHERE queue_id = ?;

-- name: counts
-- (visible, in flight, delayed), expired messages left out.
SELECT COALESCE(SUM(CASE WHEN visible_at <= ? THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN visible_at > ? AND receive_count > 0 THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN visible_at > ? AND receive_count = 0 THEN 1 ELSE 0 END), 0)
FROM sqs_messages WHERE queue_id = ? AND retain_from > ?;

-- name: oldest
-- When the oldest message still retained was sent (ApproximateAgeOfOldestMessage), NULL when none.
SELECT MIN(sent_at) FROM sqs_messages WHERE queue_id = ? AND retain_from > ?;

-- name: insert_messages
-- Messages, in receive order (one row per message).
-- row: (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attrs, md5_attrs, trace_header, md5_sys, sender_id, sent_at, retain_from, visible_at, group_id, dedup_id, fifo, trace_id, sealed)
VALUES {rows};

-- name: insert_plain_messages
-- Standard messages without message or system attributes, trace header or group id, not sealed:
-- insert_messages with the NULLs written out (a NULL parameter costs SQLite's driver an adapter
-- lookup each). Row: queue_id, message_id, body, md5_body, sender_id, sent_at, retain_from,
-- visible_at, trace_id.
-- row: (?, ?, ?, ?, NULL, NULL, NULL, NULL, ?, ?, ?, ?, NULL, NULL, 0, ?, NULL)
INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attrs, md5_attrs, trace_header, md5_sys, sender_id, sent_at, retain_from, visible_at, group_id, dedup_id, fifo, trace_id, sealed)
VALUES {rows};

-- name: insert_sealed_messages
-- The same, sealed (body '', body and attributes in the blob). Row: queue_id, message_id,
-- md5_body, sender_id, sent_at, retain_from, visible_at, trace_id, sealed.
-- row: (?, ?, '', ?, NULL, NULL, NULL, NULL, ?, ?, ?, ?, NULL, NULL, 0, ?, ?)
INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attrs, md5_attrs, trace_header, md5_sys, sender_id, sent_at, retain_from, visible_at, group_id, dedup_id, fifo, trace_id, sealed)
VALUES {rows};

-- name: insert_fifo
-- One FIFO message; its row id.
INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attrs, md5_attrs, trace_header, md5_sys, sender_id, sent_at, retain_from, visible_at, group_id, dedup_id, fifo, trace_id, sealed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id;

-- name: next_fifo_seq
-- The FIFO SequenceNumber of the message just inserted: the next value of a counter that is
-- never reset (the row id of the message, the parameter, is not needed here).
INSERT INTO sqs_counters (name, value) VALUES ('fifo_seq', 1)
ON CONFLICT (name) DO UPDATE SET value = value + 1 + 0 * ? RETURNING value;

-- name: set_seq
-- Record a FIFO message's SequenceNumber.
UPDATE sqs_messages SET seq = ? WHERE id = ?;

-- name: claim_dedup
-- Reserve a deduplication id unless it was seen within the window.
INSERT INTO sqs_dedup (queue_id, scope, dedup_id, message_id, seq, created_at) VALUES (?, ?, ?, ?, 0, ?)
ON CONFLICT (queue_id, scope, dedup_id) DO UPDATE SET message_id = excluded.message_id, seq = 0,
  created_at = excluded.created_at WHERE sqs_dedup.created_at <= ?;

-- name: dedup_original
-- The message a duplicate stands for.
SELECT message_id, seq FROM sqs_dedup WHERE queue_id = ? AND scope = ? AND dedup_id = ?;

-- name: set_dedup_seq
-- The SequenceNumber a deduplication id answers with.
UPDATE sqs_dedup SET seq = ? WHERE queue_id = ? AND scope = ? AND dedup_id = ?;

-- name: claim
-- Standard queue: claim up to n visible messages, oldest first.
UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1,
  first_receive_at = COALESCE(first_receive_at, ?), receipt = ?, received_at = ?
WHERE id IN (SELECT id FROM sqs_messages WHERE queue_id = ? AND visible_at <= ?
  ORDER BY visible_at, id LIMIT ?)
RETURNING id, message_id, body, md5_body, attrs, md5_attrs, trace_header, md5_sys, sender_id, sent_at, receive_count, first_receive_at, group_id, dedup_id, dlq_source, retain_from, receipt, fifo, seq, trace_id, sealed;

-- name: claim_or_next
-- (A shared store's one-statement look; SQLite's UPDATE cannot sit in a WITH, so a store of its own
-- runs claim and then next_visible, both in-process.)
SELECT NULL;

-- name: lock_queue
-- FIFO receives of a queue are serialized already (one server, one writer): a plain read.
SELECT id FROM sqs_queues WHERE id = ?;

-- name: fifo_candidates
-- FIFO: visible messages that no in-flight message of their group precedes (a message made visible
-- again comes back before the rest of its group), one group's messages together: groups in the order
-- of their oldest such message, each group's in sequence order.
WITH held AS (SELECT group_id, MIN(id) AS first_held FROM sqs_messages
              WHERE queue_id = ? AND fifo = 1 AND visible_at > ? AND receive_count > 0 GROUP BY group_id)
SELECT id FROM (
  SELECT m.id, MIN(m.id) OVER (PARTITION BY m.group_id) AS group_first
  FROM sqs_messages m LEFT JOIN held h ON h.group_id = m.group_id
  WHERE m.queue_id = ? AND m.fifo = 1 AND m.visible_at <= ? AND (h.first_held IS NULL OR m.id < h.first_held)
) ready ORDER BY group_first, id LIMIT ?;

-- name: claim_ids
-- Claim these messages.
UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1,
  first_receive_at = COALESCE(first_receive_at, ?), receipt = ?, received_at = ?
WHERE id IN ({marks}) RETURNING id, message_id, body, md5_body, attrs, md5_attrs, trace_header, md5_sys, sender_id, sent_at, receive_count, first_receive_at, group_id, dedup_id, dlq_source, retain_from, receipt, fifo, seq, trace_id, sealed;

-- name: reclaim
-- A retried FIFO receive: the same messages again, if still held by that receive.
UPDATE sqs_messages SET visible_at = ? WHERE queue_id = ? AND receipt = ? AND id IN ({marks})
RETURNING id, message_id, body, md5_body, attrs, md5_attrs, trace_header, md5_sys, sender_id, sent_at, receive_count, first_receive_at, group_id, dedup_id, dlq_source, retain_from, receipt, fifo, seq, trace_id, sealed;

-- name: receive_attempt
-- A FIFO ReceiveRequestAttemptId seen lately.
SELECT receipt, ids FROM sqs_receive_attempts WHERE queue_id = ? AND attempt_id = ? AND created_at > ?;

-- name: save_receive_attempt
-- Remember a FIFO receive attempt.
INSERT INTO sqs_receive_attempts (queue_id, attempt_id, created_at, receipt, ids) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (queue_id, attempt_id) DO UPDATE SET created_at = excluded.created_at,
  receipt = excluded.receipt, ids = excluded.ids;

-- name: delete_ids
-- Delete rows just read.
DELETE FROM sqs_messages WHERE id IN ({marks});

-- name: delete_handles
-- Delete by (row id, message id) pairs: the ids, then the message ids.
DELETE FROM sqs_messages WHERE id IN ({marks}) AND message_id IN ({marks});

-- name: move_to_dlq
-- Messages over maxReceiveCount into the dead-letter queue (standard: retention counts on).
UPDATE sqs_messages SET queue_id = ?, visible_at = ?, receipt = 0, received_at = NULL,
  receive_count = receive_count - 1, dlq_source = ?
WHERE id IN ({marks});

-- name: move_to_fifo_dlq
-- Messages over maxReceiveCount into a FIFO dead-letter queue (retention starts again).
UPDATE sqs_messages SET queue_id = ?, visible_at = ?, receipt = 0, received_at = NULL,
  receive_count = receive_count - 1, dlq_source = ?, retain_from = ?
WHERE id IN ({marks});

-- name: next_visible
-- When the next hidden message of a queue turns visible.
SELECT visible_at FROM sqs_messages WHERE queue_id = ? AND visible_at > ? ORDER BY visible_at LIMIT 1;

-- name: message_state
-- What a receipt handle's checks read of one message.
SELECT queue_id, receipt, visible_at, received_at, fifo, group_id, retain_from FROM sqs_messages
WHERE id = ? AND message_id = ?;

-- name: delete_message
-- DeleteMessage on a standard queue.
DELETE FROM sqs_messages WHERE id = ? AND queue_id = ? AND message_id = ?;

-- name: delete_message_if
-- FIFO: delete only if this receive still holds the message.
DELETE FROM sqs_messages WHERE id = ? AND queue_id = ? AND receipt = ? AND visible_at > ?;

-- name: set_visibility
-- ChangeMessageVisibility for the receive that holds the message.
UPDATE sqs_messages SET visible_at = ? WHERE id = ? AND receipt = ?;

-- name: owned_key_offer
-- Store the SSE-SQS key unless one is stored.
INSERT INTO sqs_keys (name, material) VALUES (?, ?) ON CONFLICT (name) DO NOTHING;

-- name: owned_key
-- The SSE-SQS key.
SELECT material FROM sqs_keys WHERE name = ?;

-- name: expire_head
-- The oldest visible messages of a queue (the retention sweep looks at them).
SELECT id, retain_from FROM sqs_messages WHERE queue_id = ? AND visible_at <= ?
ORDER BY visible_at, id LIMIT ?;

-- name: sweep_dedup
-- Deduplication ids out of their window.
DELETE FROM sqs_dedup WHERE created_at <= ?;

-- name: sweep_attempts
-- Receive attempts out of their window.
DELETE FROM sqs_receive_attempts WHERE created_at <= ?;

-- name: lock_move_tasks
-- One server, one writer: nothing to lock (a statement that reads nothing).
SELECT CAST(? AS TEXT) WHERE 0;

-- name: running_task_for
-- A task running or being cancelled for a source.
SELECT handle FROM sqs_move_tasks WHERE source_arn = ? AND status IN ('RUNNING', 'CANCELLING');

-- name: create_move_task
-- A RUNNING task.
INSERT INTO sqs_move_tasks (handle, account, region, source_arn, dest_arn, rate, status, moved, to_move, started_at)
VALUES (?, ?, ?, ?, ?, ?, 'RUNNING', 0, ?, ?);

-- name: move_task
-- A task by handle.
SELECT handle, source_arn, dest_arn, rate, status, moved, to_move, failure, started_at FROM sqs_move_tasks WHERE handle = ?;

-- name: move_tasks
-- A source's tasks, newest first.
SELECT handle, source_arn, dest_arn, rate, status, moved, to_move, failure, started_at FROM sqs_move_tasks WHERE source_arn = ? ORDER BY started_at DESC LIMIT ?;

-- name: running_move_tasks
-- Handles of the tasks running or being cancelled.
SELECT handle FROM sqs_move_tasks WHERE status IN ('RUNNING', 'CANCELLING');

-- name: set_move_task_status_if
-- A task's new status, if it is in one of these.
UPDATE sqs_move_tasks SET status = ?, failure = ? WHERE handle = ? AND status IN ({marks});

-- name: set_move_task_status
-- A task's new status.
UPDATE sqs_move_tasks SET status = ?, failure = ? WHERE handle = ?;

-- name: move_batch_rows
-- Up to n visible messages of a dead-letter queue, with where they came from.
SELECT m.id, m.dlq_source FROM sqs_messages m WHERE m.id IN (
  SELECT id FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? ORDER BY visible_at, id LIMIT ?);

-- name: move_out
-- Messages out of a dead-letter queue (a standard destination: retention counts on).
UPDATE sqs_messages SET queue_id = ?, visible_at = ?, receive_count = 0, first_receive_at = NULL, receipt = 0,
  received_at = NULL, dlq_source = NULL
WHERE id IN ({marks});

-- name: move_out_to_fifo
-- Messages out of a dead-letter queue into a FIFO queue (retention starts again).
UPDATE sqs_messages SET queue_id = ?, visible_at = ?, retain_from = ?, receive_count = 0, first_receive_at = NULL,
  receipt = 0, received_at = NULL, dlq_source = NULL
WHERE id IN ({marks});

-- name: count_moved
-- A task moved these many more.
UPDATE sqs_move_tasks SET moved = moved + ? WHERE handle = ?;
