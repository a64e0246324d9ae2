"""Lambda: functions, versions, aliases, layers, concurrency and invocation (see ``service``)."""
