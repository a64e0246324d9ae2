"""CloudWatch Logs: log groups, streams and events; the sink for function logs."""
