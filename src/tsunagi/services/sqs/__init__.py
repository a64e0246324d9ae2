"""SQS: queues and messages (service: tsunagi.services.sqs.service:SqsService)."""
