"""Deliveries between services, through the durable outbox (:mod:`tsunagi.pipes.outbox`)."""
