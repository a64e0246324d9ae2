"""Subcommands of `tsunagi` that talk to a running server."""
