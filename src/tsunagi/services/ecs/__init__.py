"""ECS: clusters, task definitions, tasks run as host processes (no Docker), services."""
