"""SNS: topics, subscriptions, filter policies, signed notifications and durable fan-out."""
