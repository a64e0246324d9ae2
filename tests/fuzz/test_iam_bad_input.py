"""Property: no IAM or STS call answers a 5xx, whatever its values.

Hypothesis draws an operation tsunagi serves and values for its input shape (names, ARNs of every
kind, policy documents well- and ill-formed, paths, version ids, markers, numbers at and beyond
their bounds). The values go through the protocol's validation first, as on the wire; what it lets
through reaches the service, which must answer or fail with a 4xx ``ServiceError``. A few entities
exist beforehand so that calls reach past the lookups. In-process, SQLite ``:memory:``, manual clock.
"""

from __future__ import annotations

import asyncio
import json
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
from tsunagi.services.iam.service import IamService
from tsunagi.services.sts.service import StsService
from tsunagi.store.base import open_store

ACCOUNT = "000000000000"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]})
STRINGS = st.sampled_from([
    "", "a", "u", "g", "r", "p", "ip", "x" * 70, "x" * 400, "é", "a b", "/", "/a/", "//", "v1", "v2", "v0", "v1.x",
    "Active", "Inactive", "Expired", "AKIAAAAAAAAAAAAAAAAA", "ASIAAAAAAAAAAAAAAAAA",
    f"arn:aws:iam::{ACCOUNT}:role/r", f"arn:aws:iam::{ACCOUNT}:user/u", f"arn:aws:iam::{ACCOUNT}:group/g",
    f"arn:aws:iam::{ACCOUNT}:policy/p", "arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/Nope",
    f"arn:aws:iam::{ACCOUNT}:oidc-provider/x", f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s", "arn:", "arn:aws:iam",
    TRUST, "{}", "[]", "null", '{"Statement": {}}', '{"Statement": [{"Effect": "Allow", "Action": "*"}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
    "a.b.c", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", "task/aws-service-role/ecs.amazonaws.com/x/y",
    "ecs.amazonaws.com", "https://x", "http://x", "%", "\x00",
])


def values(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    t = shape.type_name
    if t == "string":
        return st.sampled_from(shape.enum) | STRINGS if shape.enum else STRINGS
    if t in ("integer", "long"):
        return st.sampled_from([0, 1, 899, 900, 3600, 3601, 43200, 43201, 129601, 10**12, -1])
    if t == "boolean":
        return st.booleans()
    if t == "list":
        return st.lists(values(shape.member, depth + 1), max_size=3) if depth < 3 else st.just([])
    if t == "structure":
        if depth >= 3:
            return st.just({})
        members = {name: values(member, depth + 1) for name, member in shape.members.items()}
        return st.fixed_dictionaries({}, optional=members)
    if t == "map":
        return st.just({})
    if t == "blob":
        return st.just(b"x")
    return st.none()


class World:
    def __init__(self, tmp: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = open_store(":memory:", tmp)
        platform = Platform(Config(policies="enforce"), self.store, ManualClock())
        self.iam = IamService(platform)
        self.sts = StsService(platform)
        platform.services.update(iam=self.iam, sts=self.sts)
        self.run(self.store.open())
        self.run(self.store.reset())
        self.run(self.iam.start())
        ctx = self.ctx()
        self.run(self.iam.create_user(ctx, {"UserName": "u"}))
        self.run(self.iam.create_group(ctx, {"GroupName": "g"}))
        self.run(self.iam.create_role(ctx, {"RoleName": "r", "AssumeRolePolicyDocument": TRUST}))
        self.run(self.iam.create_instance_profile(ctx, {"InstanceProfileName": "ip"}))
        self.run(self.iam.create_policy(ctx, {"PolicyName": "p", "PolicyDocument": (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}')}))

    def run(self, aw: Any) -> Any:
        return self.loop.run_until_complete(aw)

    @staticmethod
    def ctx() -> RequestContext:
        return RequestContext(account=ACCOUNT, region="us-east-1", request_id=str(uuid.uuid4()),
                              principal=Principal.root(ACCOUNT, "test"))

    def close(self) -> None:
        self.run(self.iam.stop())
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(str(tmp_path_factory.mktemp("iam-bad-input")))
    yield w
    w.close()


def _served() -> list[tuple[str, str]]:
    out = []
    for service, impl in (("iam", IamService), ("sts", StsService)):
        for op in service_model(service).operation_names:
            if callable(getattr(impl, xform_name(op), None)):
                out.append((service, op))
    return out


SERVED = _served()


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    service, op = draw(st.sampled_from(SERVED))
    shape = service_model(service).operation_model(op).input_shape
    params = draw(values(shape)) if shape is not None else {}
    return service, op, params


@given(calls())
def test_no_call_answers_a_server_error(world: World, call: tuple[str, str, dict[str, Any]]) -> None:
    service, op, params = call
    note(f"{service}.{op}({params!r})")
    model = service_model(service).operation_model(op)
    try:
        validate(model, params)
    except ServiceError as e:
        assert e.status < 500
        return
    svc = world.iam if service == "iam" else world.sts
    try:
        world.run(getattr(svc, xform_name(op))(world.ctx(), params))
    except ServiceError as e:
        assert e.status < 500, f"{service}.{op} answered {e.status} {e.code}: {e.message}"
