"""Temporary credentials on a ManualClock (SQLite and PostgreSQL): they expire when AWS says they do,
the IAM port hands strict SigV4 what it needs to verify them, and expired ones are forgotten a day on."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.services import expect_error, service_runner
from tsunagi.clock import ManualClock
from tsunagi.context import Principal
from tsunagi.ports.iam import IAM, IamPort
from tsunagi.services.base import Platform, RequestContext
from tsunagi.services.iam.service import IamService
from tsunagi.services.sts.service import StsService

ACCOUNT = "000000000000"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]})


class Harness:
    def __init__(self, sts: StsService, clock: ManualClock) -> None:
        self.sts = sts
        self.iam: IamService = sts.platform.services["iam"]  # type: ignore[assignment]
        self.port: IamPort = sts.platform.ports.get(IAM)
        self.clock = clock

    @staticmethod
    def ctx(key: str | None = None, principal: str | None = None) -> RequestContext:
        p = Principal(ACCOUNT, principal or f"arn:aws:iam::{ACCOUNT}:root", key)
        return RequestContext(account=ACCOUNT, region="eu-west-1", request_id=str(uuid.uuid4()), principal=p)


def _both(platform: Platform) -> StsService:
    iam = IamService(platform)
    platform.services["iam"] = iam
    return StsService(platform)


@pytest.fixture
def sts(store_url: str, tmp_path):
    return service_runner(store_url, str(tmp_path), "sts", _both, Harness)


def test_assumed_role_credentials_expire_and_are_forgotten_a_day_later(sts) -> None:
    async def body(h: Harness) -> None:
        await h.iam.start()
        role = (await h.iam.create_role(h.ctx(), {"RoleName": "r", "AssumeRolePolicyDocument": TRUST}))["Role"]
        got = await h.sts.assume_role(h.ctx("test"), {"RoleArn": role["Arn"], "RoleSessionName": "job",
                                                      "DurationSeconds": 900})
        key = got["Credentials"]["AccessKeyId"]
        creds = await h.port.credentials(key)
        assert creds is not None and creds.session_token == got["Credentials"]["SessionToken"]
        assert creds.principal_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/r/job"
        assert creds.expires_at_ms == h.clock.now_ms() + 900_000
        who = await h.sts.get_caller_identity(h.ctx(key), {})
        assert who["Arn"] == creds.principal_arn
        h.clock.advance(901)
        await expect_error(h.sts.get_caller_identity(h.ctx(key), {}), "ExpiredToken",
                           "The security token included in the request is expired")
        await h.iam.repo.delete_expired_sessions(h.clock.now_ms() - 86_400_000)
        assert await h.iam.repo.session(key) is not None          # kept a day, to answer ExpiredToken
        h.clock.advance(86_400)
        await h.iam.repo.delete_expired_sessions(h.clock.now_ms() - 86_400_000)
        assert await h.iam.repo.session(key) is None
        await h.iam.stop()

    sts(body)


def test_the_port_follows_key_changes(sts) -> None:
    async def body(h: Harness) -> None:
        await h.iam.start()
        await h.iam.create_user(h.ctx(), {"UserName": "u"})
        key = (await h.iam.create_access_key(h.ctx(), {"UserName": "u"}))["AccessKey"]
        creds = await h.port.credentials(key["AccessKeyId"])
        assert creds is not None and creds.active and creds.secret_access_key == key["SecretAccessKey"]
        await h.iam.update_access_key(h.ctx(), {"UserName": "u", "AccessKeyId": key["AccessKeyId"],
                                                "Status": "Inactive"})
        creds = await h.port.credentials(key["AccessKeyId"])
        assert creds is not None and not creds.active
        await h.iam.update_user(h.ctx(), {"UserName": "u", "NewUserName": "v"})
        creds = await h.port.credentials(key["AccessKeyId"])
        assert creds is not None and creds.principal_arn == f"arn:aws:iam::{ACCOUNT}:user/v"
        await h.iam.delete_access_key(h.ctx(), {"UserName": "v", "AccessKeyId": key["AccessKeyId"]})
        assert await h.port.credentials(key["AccessKeyId"]) is None
        await h.iam.stop()

    sts(body)


def test_identity_policies_of_users_groups_and_role_sessions(sts) -> None:
    async def body(h: Harness) -> None:
        await h.iam.start()
        doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*",
                                                                   "Resource": "*"}]})
        await h.iam.create_user(h.ctx(), {"UserName": "u"})
        await h.iam.create_group(h.ctx(), {"GroupName": "g"})
        await h.iam.add_user_to_group(h.ctx(), {"GroupName": "g", "UserName": "u"})
        await h.iam.put_group_policy(h.ctx(), {"GroupName": "g", "PolicyName": "gp", "PolicyDocument": doc})
        arn = f"arn:aws:iam::{ACCOUNT}:user/u"
        assert [label for label, _ in await h.port.identity_policies(arn)] == [
            f"the inline policy 'gp' of arn:aws:iam::{ACCOUNT}:group/g"]
        basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        await h.iam.attach_user_policy(h.ctx(), {"UserName": "u", "PolicyArn": basic})
        docs = await h.port.identity_policies(arn)          # the cache was dropped by the attachment
        assert len(docs) == 2 and "logs:PutLogEvents" in docs[0][1]
        await h.iam.create_role(h.ctx(), {"RoleName": "r", "AssumeRolePolicyDocument": TRUST})
        await h.iam.put_role_policy(h.ctx(), {"RoleName": "r", "PolicyName": "rp", "PolicyDocument": doc})
        session = f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s"
        assert [d for _, d in await h.port.identity_policies(session)] == [doc]
        ref = await h.port.role(f"arn:aws:iam::{ACCOUNT}:role/r")
        assert ref is not None and ref.trust_policy == TRUST and ref.max_session_seconds == 3600
        assert await h.port.role(f"arn:aws:iam::{ACCOUNT}:role/other-path/r") is None
        await h.iam.stop()

    sts(body)
