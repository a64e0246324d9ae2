"""tsunagi: a self-hosted, AWS-compatible event platform in one process on one port."""

__version__ = "0.1.0"
