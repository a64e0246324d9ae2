"""Service semantics: plain Python, no HTTP, no SQL strings.

A service is a class with one ``async`` method per operation, named by botocore's
``xform_name`` (``SendMessage`` → ``send_message``). Each takes ``(ctx, params)`` and returns a
dict shaped like the operation's output, or raises a :class:`~tsunagi.protocol.errors.ServiceError`.
"""
