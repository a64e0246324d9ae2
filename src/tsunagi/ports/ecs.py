"""What the rest of tsunagi may ask of ECS (implemented by ``services/ecs/port.py``).

Callers: the gateway's routes for the endpoints a running task calls (``ECS_CONTAINER_METADATA_URI_V4``
and ``AWS_CONTAINER_CREDENTIALS_FULL_URI``), each naming the task by the secret token it was started
with; CloudFormation's resource handlers next.
"""

from __future__ import annotations

from typing import Any, Protocol

from tsunagi.ports import PortKey


class EcsPort(Protocol):
    async def task_metadata(self, token: str) -> dict[str, Any] | None:
        """Task metadata (version 4, ``${ECS_CONTAINER_METADATA_URI_V4}/task``) of the task started with
        ``token``; None when no task has it."""
        ...

    async def container_metadata(self, token: str, runtime_id: str) -> dict[str, Any] | None:
        """One container's metadata (``${ECS_CONTAINER_METADATA_URI_V4}``); None when unknown."""
        ...

    async def task_credentials(self, token: str) -> dict[str, Any] | None:
        """The task role's credentials as the container credentials endpoint answers them
        (``AccessKeyId``, ``SecretAccessKey``, ``Token``, ``Expiration``, ``RoleArn``); None when unknown."""
        ...


ECS: PortKey[EcsPort] = PortKey("ecs")
