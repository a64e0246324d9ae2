"""The scenario registry: one module per service, each registering its scenarios.

To add one (SNS fan-out, Lambda invoke, event source mappings, S3, RabbitMQ as a reference ...),
create ``bench/scenarios/<service>.py`` with::

    from . import scenario

    @scenario("sns.fanout", needs={"aws"}, order=40)
    def fanout(ctx):            # ctx: bench.core.Context
        table = Table(...)      # bench.report.Table
        for s in ctx.aws(): ...
        return [table]

Modules in this package are discovered automatically (``_``-prefixed ones are helpers). ``--only``
takes scenario names or groups (the part before the dot): ``--only sqs`` runs every ``sqs.*``
scenario, ``--only sqs.send,gateway`` just those. ``needs`` tells the runner which servers to start:
``"bare"`` (the canned-reply handler), ``"aws"`` (tsunagi and the peers), ``"pg"`` (a scratch
PostgreSQL database for ceilings).
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Scenario:
    name: str
    fn: Callable
    needs: frozenset[str]
    order: int
    doc: str

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, needs: set[str] | frozenset[str] = frozenset({"aws"}), order: int = 100):
    def deco(fn: Callable) -> Callable:
        REGISTRY[name] = Scenario(name, fn, frozenset(needs), order, (fn.__doc__ or "").strip())
        return fn
    return deco


def load() -> list[Scenario]:
    for m in pkgutil.iter_modules(__path__):
        if not m.name.startswith("_"):
            importlib.import_module(f"{__name__}.{m.name}")
    return sorted(REGISTRY.values(), key=lambda s: (s.order, s.name))


def select(only: list[str] | None) -> list[Scenario]:
    every = load()
    if not only:
        return every
    unknown = [o for o in only if not any(o in (s.name, s.group) for s in every)]
    if unknown:
        names = ", ".join(s.name for s in every)
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; known: {names}")
    return [s for s in every if s.name in only or s.group in only]
