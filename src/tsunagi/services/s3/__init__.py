"""S3: buckets, objects, multipart uploads, checksums, SSE-S3, presigned URLs and event notifications."""
