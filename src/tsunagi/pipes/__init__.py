"""Deliveries between services: the outbox and its dispatcher, its standard targets, and the
pipes that carry one service's events to another (SNS deliveries, event source mapping pollers).

Pipes reach services only through their ports (:mod:`tsunagi.ports`); nothing here imports a service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tsunagi.services.base import Platform


def install(platform: Platform) -> None:
    """Give ``platform`` its outbox (with the standard targets and SNS's deliveries) and start it with the platform.
    Called by :func:`tsunagi.server.assemble` before the services are made."""
    from tsunagi.pipes.outbox import Outbox
    from tsunagi.pipes.targets import register_standard

    if isinstance(platform._outbox, Outbox):
        return
    from tsunagi.pipes import sns_delivery
    from tsunagi.pipes.housekeeping import DeliverySweeper
    from tsunagi.pipes.pollers import PollerManager

    box = Outbox(platform)
    register_standard(box)
    sns_delivery.register(box)
    platform.outbox = box
    platform.components.append(box)
    platform.components.append(PollerManager(platform))
    platform.components.append(DeliverySweeper(platform))
