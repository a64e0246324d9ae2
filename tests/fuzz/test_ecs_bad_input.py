"""Property: no ECS call answers a 5xx, whatever its values.

Hypothesis draws an ECS operation tsunagi serves and values for its input shape (names, ARNs and ids
of every kind, task definition references, counts at and beyond their bounds). The values go through
the protocol's validation first, as on the wire; what it lets through reaches the service, which must
answer or fail with a 4xx ``ServiceError``. A cluster, a task definition and a service exist
beforehand so that calls reach past the lookups; no image is mapped, so a task that is started stops
with CannotPullContainerError and no process runs. In-process, SQLite ``:memory:``, manual clock.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from botocore import xform_name
from hypothesis import given, note
from hypothesis import strategies as st

from tsunagi.clock import ManualClock
from tsunagi.config import Config
from tsunagi.context import Principal
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.specs import service_model
from tsunagi.protocol.validate import validate
from tsunagi.services.base import Platform, RequestContext
from tsunagi.services.ecs.service import EcsService
from tsunagi.store.base import open_store

ACCOUNT = "000000000000"
TASK_ID = "0123456789abcdef0123456789abcdef"
STRINGS = st.sampled_from([
    "", "a", "c", "default", "fam", "fam:1", "fam:0", "fam:x", "fam:99", "svc", "x" * 300, "é", "a b", "/", ":",
    TASK_ID, f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/c", f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/none",
    f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/fam:1", f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/fam",
    f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/c/{TASK_ID}", f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/{TASK_ID}",
    f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/c/svc", "arn:aws:ecs:eu-west-1:111111111111:cluster/c",
    "arn:", "arn:aws:ecs", "EC2", "FARGATE", "awsvpc", "bridge", "awslogs", "START", "COMPLETE", "ACTIVE",
    "INACTIVE", "RUNNING", "STOPPED", "TAGS", "SETTINGS", "containerInsights", "enabled", "FARGATE_SPOT",
    "%", "\x00", "eyJ9", "nope",
])


def values(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    t = shape.type_name
    if t == "string":
        return st.sampled_from(shape.enum) | STRINGS if shape.enum else STRINGS
    if t in ("integer", "long", "double", "float"):
        return st.sampled_from([0, 1, 10, 11, 100, 101, 120, 121, 10**12, -1])
    if t == "boolean":
        return st.booleans()
    if t == "list":
        return st.lists(values(shape.member, depth + 1), max_size=3) if depth < 4 else st.just([])
    if t == "structure":
        if depth >= 4:
            return st.just({})
        members = {name: values(member, depth + 1) for name, member in shape.members.items()}
        return st.fixed_dictionaries({}, optional=members)
    if t == "map":
        return st.dictionaries(STRINGS, STRINGS, max_size=2)
    if t == "blob":
        return st.just(b"x")
    return st.none()


class World:
    def __init__(self, tmp: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = open_store(":memory:", tmp)
        config = Config(data_dir=tmp)
        config.ecs_images = {}
        platform = Platform(config, self.store, ManualClock())
        self.ecs = EcsService(platform)
        platform.services["ecs"] = self.ecs
        self.run(self.store.open())
        self.run(self.store.reset())
        self.run(self.ecs.start())
        ctx = self.ctx()
        self.run(self.ecs.create_cluster(ctx, {"clusterName": "c"}))
        self.run(self.ecs.register_task_definition(ctx, {"family": "fam", "containerDefinitions": [
            {"name": "app", "image": "unmapped", "memory": 64}]}))
        self.run(self.ecs.create_service(ctx, {"cluster": "c", "serviceName": "svc", "taskDefinition": "fam",
                                               "desiredCount": 0}))

    def run(self, aw: Any) -> Any:
        return self.loop.run_until_complete(aw)

    @staticmethod
    def ctx() -> RequestContext:
        return RequestContext(account=ACCOUNT, region="us-east-1", request_id=str(uuid.uuid4()),
                              principal=Principal.root(ACCOUNT, "test"))

    def close(self) -> None:
        self.run(self.ecs.stop())
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(str(tmp_path_factory.mktemp("ecs-bad-input")))
    yield w
    w.close()


SERVED = [op for op in service_model("ecs").operation_names if callable(getattr(EcsService, xform_name(op), None))]


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    op = draw(st.sampled_from(SERVED))
    shape = service_model("ecs").operation_model(op).input_shape
    params = draw(values(shape)) if shape is not None else {}
    return op, params


@given(calls())
def test_no_call_answers_a_server_error(world: World, call: tuple[str, dict[str, Any]]) -> None:
    op, params = call
    note(f"ecs.{op}({params!r})")
    model = service_model("ecs").operation_model(op)
    try:
        validate(model, params)
    except ServiceError as e:
        assert e.status < 500
        return
    try:
        world.run(getattr(world.ecs, xform_name(op))(world.ctx(), params))
    except ServiceError as e:
        assert e.status < 500, f"ecs.{op} answered {e.status} {e.code}: {e.message}"
