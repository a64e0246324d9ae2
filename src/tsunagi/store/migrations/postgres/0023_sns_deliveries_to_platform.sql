-- SNS's delivery records move to the platform's one delivery-record table (0003_deliveries.sql):
-- publishes and their deliveries write there now, and the platform sweeps it. The records kept so
-- far come along (in id order, which the sweep relies on), without a trace id: they had none.
INSERT INTO deliveries (trace_id, at, account, region, pipe, source_arn, message_id, target_arn, protocol, outcome,
                        reason)
SELECT '', at, split_part(topic_arn, ':', 5), split_part(topic_arn, ':', 4), 'sns', topic_arn, message_id,
       CASE WHEN outcome = 'fanout' THEN '*' ELSE subscription_arn END,
       CASE WHEN outcome = 'fanout' THEN NULL ELSE protocol END, outcome, reason
FROM sns_deliveries
ORDER BY id;
DROP TABLE sns_deliveries;
