-- SNS (see store/sns.py and migrations/*/0020_sns.sql): topics, subscriptions, FIFO deduplication, the
-- signing key, the local mailbox.

-- == topics ======================================================================================

-- name: create_topic
INSERT INTO sns_topics (account, region, name, arn, fifo, attributes, tags, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING;

-- name: topic
SELECT id, account, region, name, arn, fifo, attributes, tags, created_at FROM sns_topics WHERE arn = ?;

-- name: list_topics
SELECT arn FROM sns_topics WHERE account = ? AND region = ? AND arn > ? ORDER BY arn LIMIT ?;

-- name: set_topic_attributes
UPDATE sns_topics SET attributes = ? WHERE arn = ?;

-- name: set_topic_tags
UPDATE sns_topics SET tags = ? WHERE arn = ?;

-- name: delete_topic_subscriptions
DELETE FROM sns_subscriptions WHERE topic_arn = ?;

-- name: delete_topic
DELETE FROM sns_topics WHERE arn = ?;

-- name: delete_topic_dedup
DELETE FROM sns_dedup WHERE topic_arn = ?;

-- name: next_seq
-- Reserve n FIFO sequence numbers of a topic; returns the last one.
UPDATE sns_topics SET seq = seq + ? WHERE arn = ? RETURNING seq;

-- == subscriptions ================================================================================

-- name: add_subscription
INSERT INTO sns_subscriptions (arn, topic_arn, account, region, protocol, endpoint, attributes, pending, token,
                               created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: subscription
SELECT arn, topic_arn, account, region, protocol, endpoint, attributes, pending, token, created_at
FROM sns_subscriptions WHERE arn = ?;

-- name: subscription_exists
SELECT 1 FROM sns_subscriptions WHERE arn = ?;

-- name: find_subscription
SELECT arn, topic_arn, account, region, protocol, endpoint, attributes, pending, token, created_at
FROM sns_subscriptions WHERE topic_arn = ? AND protocol = ? AND endpoint = ?;

-- name: subscriptions_of
SELECT arn, topic_arn, account, region, protocol, endpoint, attributes, pending, token, created_at
FROM sns_subscriptions WHERE topic_arn = ? ORDER BY arn;

-- name: list_subscriptions
SELECT arn, topic_arn, account, region, protocol, endpoint, attributes, pending, token, created_at
FROM sns_subscriptions WHERE account = ? AND region = ? AND arn > ? ORDER BY arn LIMIT ?;

-- name: list_by_topic
SELECT arn, topic_arn, account, region, protocol, endpoint, attributes, pending, token, created_at
FROM sns_subscriptions WHERE topic_arn = ? AND arn > ? ORDER BY arn LIMIT ?;

-- name: count_subscriptions
-- (confirmed, pending) subscriptions of a topic.
SELECT COALESCE(SUM(CASE WHEN pending = 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(pending), 0)
FROM sns_subscriptions WHERE topic_arn = ?;

-- name: set_subscription_attributes
UPDATE sns_subscriptions SET attributes = ? WHERE arn = ?;

-- name: confirm_subscription
UPDATE sns_subscriptions SET pending = 0, attributes = ? WHERE arn = ?;

-- name: pending_by_token
SELECT arn, topic_arn, account, region, protocol, endpoint, attributes, pending, token, created_at
FROM sns_subscriptions WHERE topic_arn = ? AND token = ?;

-- name: delete_subscription
DELETE FROM sns_subscriptions WHERE arn = ?;

-- == FIFO deduplication ============================================================================

-- name: claim_dedup
-- Reserve a deduplication id, or take it over once the one holding it is older than the window.
INSERT INTO sns_dedup (topic_arn, dedup_id, message_id, seq, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (topic_arn, dedup_id) DO UPDATE SET message_id = excluded.message_id, seq = excluded.seq,
    created_at = excluded.created_at
WHERE sns_dedup.created_at <= ?;

-- name: dedup
SELECT message_id, seq FROM sns_dedup WHERE topic_arn = ? AND dedup_id = ?;

-- == the signing key ===============================================================================

-- name: signing_key
SELECT id, private_pem, cert_pem FROM sns_keys ORDER BY created_at, id LIMIT 1;

-- name: add_signing_key
-- Keep the first key written (another node may have won the race; read it back).
INSERT INTO sns_keys (id, private_pem, cert_pem, created_at) SELECT ?, ?, ?, ?
WHERE NOT EXISTS (SELECT 1 FROM sns_keys);

-- name: certificate
SELECT cert_pem FROM sns_keys WHERE id = ?;

-- == the local mailbox ==============================================================================

-- name: add_mail
INSERT INTO sns_mail (account, region, kind, recipient, sender, subject, body, topic_arn, subscription_arn, message_id,
                      subscribe_url, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: mail_to
SELECT id, account, region, kind, recipient, sender, subject, body, topic_arn, subscription_arn, message_id,
       subscribe_url, created_at
FROM sns_mail WHERE recipient = ? AND id > ? ORDER BY id LIMIT ?;

-- name: mail
SELECT id, account, region, kind, recipient, sender, subject, body, topic_arn, subscription_arn, message_id,
       subscribe_url, created_at
FROM sns_mail WHERE id > ? ORDER BY id LIMIT ?;

-- == mobile push: platform applications and endpoints (migrations/*/0024_sns_mobile.sql) ==============

-- name: create_app
INSERT INTO sns_platform_apps (arn, account, region, platform, name, attributes, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING;

-- name: app
SELECT arn, account, region, platform, name, attributes, created_at FROM sns_platform_apps WHERE arn = ?;

-- name: list_apps
SELECT arn, account, region, platform, name, attributes, created_at
FROM sns_platform_apps WHERE account = ? AND region = ? AND arn > ? ORDER BY arn LIMIT ?;

-- name: set_app_attributes
UPDATE sns_platform_apps SET attributes = ? WHERE arn = ?;

-- name: delete_app_endpoints
DELETE FROM sns_platform_endpoints WHERE app_arn = ?;

-- name: delete_app
DELETE FROM sns_platform_apps WHERE arn = ?;

-- name: create_endpoint
INSERT INTO sns_platform_endpoints (arn, app_arn, token, attributes, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING;

-- name: endpoint
SELECT arn, app_arn, token, attributes, created_at FROM sns_platform_endpoints WHERE arn = ?;

-- name: endpoint_by_token
SELECT arn, app_arn, token, attributes, created_at FROM sns_platform_endpoints WHERE app_arn = ? AND token = ?;

-- name: list_endpoints
SELECT arn, app_arn, token, attributes, created_at
FROM sns_platform_endpoints WHERE app_arn = ? AND arn > ? ORDER BY arn LIMIT ?;

-- name: set_endpoint
UPDATE sns_platform_endpoints SET token = ?, attributes = ? WHERE arn = ?;

-- name: delete_endpoint
DELETE FROM sns_platform_endpoints WHERE arn = ?;

-- == SMS: settings, opt-outs, the sandbox =============================================================

-- name: sms_settings
SELECT attributes FROM sns_sms_settings WHERE account = ? AND region = ?;

-- name: put_sms_settings
INSERT INTO sns_sms_settings (account, region, attributes) VALUES (?, ?, ?)
ON CONFLICT (account, region) DO UPDATE SET attributes = excluded.attributes;

-- name: opted_out
SELECT 1 FROM sns_sms_opt_outs WHERE account = ? AND region = ? AND phone = ?;

-- name: opt_out
INSERT INTO sns_sms_opt_outs (account, region, phone, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING;

-- name: opt_in
DELETE FROM sns_sms_opt_outs WHERE account = ? AND region = ? AND phone = ?;

-- name: list_opt_outs
SELECT phone FROM sns_sms_opt_outs WHERE account = ? AND region = ? AND phone > ? ORDER BY phone LIMIT ?;

-- name: sandbox_number
SELECT phone, status, otp, at FROM sns_sms_sandbox WHERE account = ? AND region = ? AND phone = ?;

-- name: count_sandbox_numbers
SELECT COUNT(*) FROM sns_sms_sandbox WHERE account = ? AND region = ?;

-- name: put_sandbox_number
INSERT INTO sns_sms_sandbox (account, region, phone, status, otp, at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (account, region, phone) DO UPDATE SET status = excluded.status, otp = excluded.otp, at = excluded.at;

-- name: delete_sandbox_number
DELETE FROM sns_sms_sandbox WHERE account = ? AND region = ? AND phone = ?;

-- name: list_sandbox_numbers
SELECT phone, status, otp, at FROM sns_sms_sandbox WHERE account = ? AND region = ? AND phone > ?
ORDER BY phone LIMIT ?;

-- name: mail_kind
SELECT id, account, region, kind, recipient, sender, subject, body, topic_arn, subscription_arn, message_id,
       subscribe_url, created_at
FROM sns_mail WHERE kind = ? AND id > ? ORDER BY id LIMIT ?;

-- name: mail_to_kind
SELECT id, account, region, kind, recipient, sender, subject, body, topic_arn, subscription_arn, message_id,
       subscribe_url, created_at
FROM sns_mail WHERE recipient = ? AND kind = ? AND id > ? ORDER BY id LIMIT ?;
