"""ECS names: ARNs of clusters, task definitions, tasks, containers and services, and reading the
references the API accepts (a name or an ARN; ``family``, ``family:revision`` or an ARN)."""

from __future__ import annotations

import re

from tsunagi.services.ecs.errors import Client, InvalidParameter

NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
CLUSTER_ARN = re.compile(r"arn:aws[\w-]*:ecs:([^:]+):(\d{12}):cluster/([A-Za-z0-9_-]{1,255})")
TASKDEF_ARN = re.compile(r"arn:aws[\w-]*:ecs:([^:]+):(\d{12}):task-definition/([^:]+)(?::(.*))?")
TASK_ARN = re.compile(r"arn:aws[\w-]*:ecs:([^:]+):(\d{12}):task/(?:([A-Za-z0-9_-]+)/)?([0-9a-f]{32}|[0-9a-f-]{36})")
SERVICE_ARN = re.compile(r"arn:aws[\w-]*:ecs:([^:]+):(\d{12}):service/(?:([A-Za-z0-9_-]+)/)?([A-Za-z0-9_-]+)")
TASK_ID = re.compile(r"[0-9a-f]{32}")


def cluster_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:cluster/{name}"


def taskdef_arn(region: str, account: str, family: str, revision: int) -> str:
    return f"arn:aws:ecs:{region}:{account}:task-definition/{family}:{revision}"


def task_arn(region: str, account: str, cluster: str, task_id: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:task/{cluster}/{task_id}"


def container_arn(region: str, account: str, cluster: str, task_id: str, container_id: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:container/{cluster}/{task_id}/{container_id}"


def service_arn(region: str, account: str, cluster: str, name: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:service/{cluster}/{name}"


def cluster_name_of(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def cluster_ref(region: str, account: str, ref: str | None) -> str:
    """The ARN a ``cluster`` parameter names (``default`` when absent). Anything that is neither a
    cluster name nor a cluster ARN names no cluster (ClusterNotFoundException by the caller)."""
    if not ref:
        return cluster_arn(region, account, "default")
    m = CLUSTER_ARN.fullmatch(ref)
    if m:
        return ref
    return cluster_arn(region, account, ref)


def taskdef_ref(ref: str) -> tuple[str, int | None]:
    """``family``, ``family:revision`` or an ARN → (family, revision or None for the latest ACTIVE)."""
    m = TASKDEF_ARN.fullmatch(ref)
    if m:
        family, revision = m.group(3), m.group(4)
        if revision is None:
            raise Client(f"Invalid revision number. Number: {ref.rsplit('/', 1)[1]}")
    elif ":" in ref:
        family, revision = ref.rsplit(":", 1)
    else:
        family, revision = ref, None
    if revision is None:
        return family, None
    if not revision.isdigit() or int(revision) < 1:
        raise Client(f"Invalid revision number. Number: {revision}")
    return family, int(revision)


def check_family(family: str) -> None:
    if not NAME.fullmatch(family):
        raise Client("Family contains invalid characters: up to 255 letters (uppercase and lowercase), numbers, "
                     "underscores, and hyphens are allowed.")


def task_ref(region: str, account: str, cluster: str, ref: str) -> str:
    """A task ARN from a task id or a task ARN (of the given cluster's name)."""
    m = TASK_ARN.fullmatch(ref)
    if m:
        if m.group(3) is None:          # the old ARN form, without the cluster
            return task_arn(m.group(1), m.group(2), cluster, m.group(4))
        return ref
    if TASK_ID.fullmatch(ref):
        return task_arn(region, account, cluster, ref)
    raise InvalidParameter(f"Invalid id {ref}")
