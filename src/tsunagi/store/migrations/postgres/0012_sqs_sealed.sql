-- Encryption at rest: a message of a queue with a KMS key (KmsMasterKeyId) keeps its body and message
-- attributes only here, sealed under a data key whose KMS ciphertext the blob carries (body is then ''
-- and attrs NULL). NULL for a message stored in the clear.
ALTER TABLE sqs_messages ADD COLUMN sealed BYTEA;
