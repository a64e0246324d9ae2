-- An Event invocation keeps its caller's journey while it waits: the trace id, and the
-- X-Amzn-Trace-Id / AWSTraceHeader it arrived with (the function's _X_AMZN_TRACE_ID is made from both).
ALTER TABLE lambda_async ADD COLUMN trace_id TEXT;
ALTER TABLE lambda_async ADD COLUMN trace_header TEXT;
