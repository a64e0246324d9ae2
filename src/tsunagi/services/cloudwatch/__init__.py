"""CloudWatch: metrics (PutMetricData, GetMetricData, GetMetricStatistics, ListMetrics) and alarms."""
