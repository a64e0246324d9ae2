-- The journey each message belongs to (the trace id of the request that caused it: a SendMessage, a
-- publish fanned out to the queue, an S3 notification …), whether or not its sender asked for an
-- AWSTraceHeader (trace_header). NULL for messages stored before this column existed.
ALTER TABLE sqs_messages ADD COLUMN trace_id TEXT;
