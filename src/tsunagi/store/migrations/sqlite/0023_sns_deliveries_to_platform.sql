-- SNS's delivery records move to the platform's one delivery-record table (0003_deliveries.sql):
-- publishes and their deliveries write there now, and the platform sweeps it. The records kept so
-- far come along (in id order, which the sweep relies on), without a trace id: they had none.
INSERT INTO deliveries (trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome,
                        reason)
SELECT '', at, substr(rest, instr(rest, ':') + 1, 12), substr(rest, 1, instr(rest, ':') - 1), 'sns', topic_arn,
       message_id, CASE WHEN outcome = 'fanout' THEN '*' ELSE subscription_arn END,
       CASE WHEN outcome = 'fanout' THEN NULL ELSE protocol END, outcome, reason
FROM (SELECT id, at, topic_arn, message_id, subscription_arn, protocol, outcome, reason,
             substr(topic_arn, instr(topic_arn, ':sns:') + 5) AS rest
      FROM sns_deliveries) AS old
ORDER BY id;
DROP TABLE sns_deliveries;
