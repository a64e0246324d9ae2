"""STS with boto3 and the aws CLI against a real server (SQLite and PostgreSQL): the actual caller in
GetCallerIdentity, AssumeRole and its temporary credentials used by boto3, duration bounds, trust
policies under the default ``--policies warn`` and under ``enforce``, GetSessionToken,
AssumeRoleWithWebIdentity with a stored token, GetAccessKeyInfo."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.server import TsunagiServer

ACCOUNT = "000000000000"
ROOT_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def error_of(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response["Error"]
    return err["Code"], err["Message"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def client_with(server: TsunagiServer, service: str, creds: dict):
    """A boto3 client signing with temporary (or IAM) credentials."""
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"})
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", config=cfg,
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds.get("SessionToken"))


def jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256', 'kid': 'k1', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


# == GetCallerIdentity ==============================================================================
def test_caller_identity_is_the_user_whose_key_signed(server) -> None:
    iam = server.client("iam")
    user = iam.create_user(UserName="deployer", Path="/ci/")["User"]
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    who = client_with(server, "sts", key).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/ci/deployer"
    assert who["UserId"] == user["UserId"] and who["Account"] == ACCOUNT
    # the root's answer is unchanged for keys IAM does not know
    assert server.client("sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    # a use of the key is recorded for GetAccessKeyLastUsed
    last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert last["ServiceName"] == "sts" and last["Region"] == "us-east-1" and "LastUsedDate" in last


# == AssumeRole =====================================================================================
def test_assume_role_credentials_work_with_boto3(server) -> None:
    iam = server.client("iam")
    role = iam.create_role(RoleName="app", AssumeRolePolicyDocument=ROOT_TRUST)["Role"]
    got = server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="build-42")
    creds = got["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    assert got["AssumedRoleUser"] == {"AssumedRoleId": f"{role['RoleId']}:build-42",
                                      "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/build-42"}
    remaining = creds["Expiration"].timestamp() - time.time()
    assert 3500 < remaining <= 3600                    # one hour unless asked otherwise
    who = client_with(server, "sts", creds).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/build-42"
    assert who["UserId"] == f"{role['RoleId']}:build-42"
    # the temporary credentials work for other services too
    sqs = client_with(server, "sqs", creds)
    assert "QueueUrl" in sqs.create_queue(QueueName="from-role")
    assert server.client("sts").get_access_key_info(AccessKeyId=creds["AccessKeyId"])["Account"] == ACCOUNT
    # RoleLastUsed is set
    assert iam.get_role(RoleName="app")["Role"]["RoleLastUsed"]["Region"] == "us-east-1"


def test_assume_role_duration_bounds(server) -> None:
    iam = server.client("iam")
    short = iam.create_role(RoleName="short", AssumeRolePolicyDocument=ROOT_TRUST)["Role"]["Arn"]
    long_ = iam.create_role(RoleName="long", AssumeRolePolicyDocument=ROOT_TRUST,
                            MaxSessionDuration=7200)["Role"]["Arn"]
    sts = server.client("sts", parameter_validation=False)      # botocore would refuse 899 itself
    assert error_of(sts.assume_role, RoleArn=short, RoleSessionName="s1", DurationSeconds=899) == (
        "ValidationError", "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy "
        "constraint: Member must have value greater than or equal to 900", 400)
    assert error_of(sts.assume_role, RoleArn=short, RoleSessionName="s1", DurationSeconds=3601) == (
        "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", 400)
    creds = sts.assume_role(RoleArn=long_, RoleSessionName="s1", DurationSeconds=7200)["Credentials"]
    assert 7100 < creds["Expiration"].timestamp() - time.time() <= 7200
    # role chaining: at most one hour
    chained = client_with(server, "sts", creds)
    assert error_of(chained.assume_role, RoleArn=short, RoleSessionName="again", DurationSeconds=3700)[1] == (
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
    assert chained.assume_role(RoleArn=short, RoleSessionName="again")["AssumedRoleUser"]["Arn"].endswith(
        "assumed-role/short/again")


def test_assume_role_of_a_role_that_does_not_exist_is_access_denied(server) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/missing"
    assert error_of(server.client("sts").assume_role, RoleArn=arn, RoleSessionName="s1") == (
        "AccessDenied", f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: sts:AssumeRole on "
        f"resource: {arn}", 403)


def test_under_warn_a_trust_policy_that_does_not_allow_is_logged_not_refused(server) -> None:
    iam = server.client("iam")
    role = iam.create_role(RoleName="lambda-only", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]
    got = server.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="me")
    assert got["AssumedRoleUser"]["Arn"].endswith("assumed-role/lambda-only/me")
    assert "policy (warn): sts:AssumeRole" in server.log()
    assert "the trust policy of arn:aws:iam::000000000000:role/lambda-only has no statement" in server.log()


def test_a_malformed_session_policy_is_refused(server) -> None:
    role = server.client("iam").create_role(RoleName="scoped", AssumeRolePolicyDocument=ROOT_TRUST)["Role"]["Arn"]
    code, message, _ = error_of(server.client("sts").assume_role, RoleArn=role, RoleSessionName="s1",
                                Policy=json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}))
    assert (code, message) == ("MalformedPolicyDocument", "Policy statement must contain resources.")


# == GetSessionToken, AssumeRoleWithWebIdentity, GetAccessKeyInfo ===================================
def test_session_tokens_act_as_the_user(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="dev")
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    creds = client_with(server, "sts", key).get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and 800 < creds["Expiration"].timestamp() - time.time() <= 900
    session = client_with(server, "sts", creds)
    assert session.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/dev"
    assert error_of(session.get_session_token) == (
        "AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
    assert error_of(server.client("sts", parameter_validation=False).get_session_token,
                    DurationSeconds=129601)[0] == "ValidationError"


def test_assume_role_with_web_identity_stored_token(server) -> None:
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo/*"}}}]})
    role = server.client("iam").create_role(RoleName="gha", AssumeRolePolicyDocument=trust)["Role"]
    token = jwt({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:octo/app:ref:refs/heads/main",
                 "aud": "sts.amazonaws.com", "exp": int(time.time()) + 600})
    got = server.client("sts").assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="gh-run",
                                                             WebIdentityToken=token)
    assert got["SubjectFromWebIdentityToken"] == "repo:octo/app:ref:refs/heads/main"
    assert got["Provider"] == "token.actions.githubusercontent.com" and got["Audience"] == "sts.amazonaws.com"
    who = client_with(server, "sts", got["Credentials"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/gha/gh-run"
    assert error_of(server.client("sts").assume_role_with_web_identity, RoleArn=role["Arn"], RoleSessionName="x1",
                    WebIdentityToken="not-a-jwt-at-all")[0] == "InvalidIdentityToken"
    expired = jwt({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:octo/app", "exp": 1000})
    assert error_of(server.client("sts").assume_role_with_web_identity, RoleArn=role["Arn"], RoleSessionName="x1",
                    WebIdentityToken=expired)[0] == "ExpiredTokenException"


def test_access_key_info_reads_the_account_from_the_key(server) -> None:
    sts = server.client("sts")
    iam = server.client("iam", access_key="123456789012")          # another account
    iam.create_user(UserName="other")
    key = iam.create_access_key(UserName="other")["AccessKey"]["AccessKeyId"]
    assert sts.get_access_key_info(AccessKeyId=key)["Account"] == "123456789012"
    unchecked = server.client("sts", parameter_validation=False)
    assert error_of(unchecked.get_access_key_info, AccessKeyId="short")[0] == "ValidationError"


# == the aws CLI ===================================================================================
def cli(server: TsunagiServer, *args: str, creds: dict | None = None) -> dict:
    aws = Path(sys.executable).parent / "aws"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_PAGER": "", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    if creds is not None:
        env.update(AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                   AWS_SESSION_TOKEN=creds["SessionToken"])
    proc = subprocess.run([str(aws), "--endpoint-url", server.url, "--output", "json", *args], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def test_cli_assume_role_then_who_am_i(server, tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(ROOT_TRUST)
    role = cli(server, "iam", "create-role", "--role-name", "cli-role", "--assume-role-policy-document",
               f"file://{trust}")["Role"]
    creds = cli(server, "sts", "assume-role", "--role-arn", role["Arn"], "--role-session-name", "cli")["Credentials"]
    who = cli(server, "sts", "get-caller-identity", creds=creds)
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/cli-role/cli"


# == --policies enforce ============================================================================
@pytest.fixture(scope="module")
def enforcing():
    srv = TsunagiServer("sqlite", env={"TSUNAGI_POLICIES": "enforce"}).start()
    yield srv
    srv.stop()


def test_enforce_refuses_what_the_trust_policy_does_not_allow(enforcing) -> None:
    enforcing.reset()
    iam, sts = enforcing.client("iam"), enforcing.client("sts")
    lambda_only = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    assert error_of(sts.assume_role, RoleArn=lambda_only, RoleSessionName="s1") == (
        "AccessDenied", f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: sts:AssumeRole on "
        f"resource: {lambda_only}", 403)
    # the account named in the trust policy: its root may, its users only with an identity policy that allows
    mine = iam.create_role(RoleName="mine", AssumeRolePolicyDocument=ROOT_TRUST)["Role"]["Arn"]
    assert sts.assume_role(RoleArn=mine, RoleSessionName="root")["Credentials"]["AccessKeyId"].startswith("ASIA")
    iam.create_user(UserName="u")
    key = iam.create_access_key(UserName="u")["AccessKey"]
    as_user = client_with(enforcing, "sts", key)
    assert error_of(as_user.assume_role, RoleArn=mine, RoleSessionName="u1")[0] == "AccessDenied"
    iam.put_user_policy(UserName="u", PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": mine}]}))
    assert as_user.assume_role(RoleArn=mine, RoleSessionName="u1")["AssumedRoleUser"]["Arn"].endswith("/mine/u1")


def test_enforce_checks_external_id_and_web_identity_conditions(enforcing) -> None:
    enforcing.reset()
    iam, sts = enforcing.client("iam"), enforcing.client("sts")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "s3cret"}}}]})
    role = iam.create_role(RoleName="partner", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    assert error_of(sts.assume_role, RoleArn=role, RoleSessionName="p1")[0] == "AccessDenied"
    assert error_of(sts.assume_role, RoleArn=role, RoleSessionName="p1", ExternalId="wrong")[0] == "AccessDenied"
    assert sts.assume_role(RoleArn=role, RoleSessionName="p1", ExternalId="s3cret")["Credentials"]
    oidc = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"accounts.google.com:aud": "my-client"}}}]})
    web = iam.create_role(RoleName="web", AssumeRolePolicyDocument=oidc)["Role"]["Arn"]
    good = jwt({"iss": "https://accounts.google.com", "sub": "1234", "aud": "my-client"})
    bad = jwt({"iss": "https://accounts.google.com", "sub": "1234", "aud": "someone-else"})
    assert sts.assume_role_with_web_identity(RoleArn=web, RoleSessionName="w1", WebIdentityToken=good)["Credentials"]
    assert error_of(sts.assume_role_with_web_identity, RoleArn=web, RoleSessionName="w1", WebIdentityToken=bad) == (
        "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)


def test_enforce_follows_boundaries_and_role_chains(enforcing) -> None:
    enforcing.reset()
    iam, sts = enforcing.client("iam"), enforcing.client("sts")
    first = iam.create_role(RoleName="first", Path="/team/", AssumeRolePolicyDocument=ROOT_TRUST)["Role"]["Arn"]
    # the second role trusts the first one by its ARN, path included
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": first}, "Action": "sts:AssumeRole"}]})
    second = iam.create_role(RoleName="second", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    hop = client_with(enforcing, "sts", sts.assume_role(RoleArn=first, RoleSessionName="hop1")["Credentials"])
    assert hop.assume_role(RoleArn=second, RoleSessionName="hop2")["AssumedRoleUser"]["Arn"].endswith(
        "assumed-role/second/hop2")
    assert error_of(sts.assume_role, RoleArn=second, RoleSessionName="root")[0] == "AccessDenied"
    # a permissions boundary that does not allow sts:AssumeRole wins over the user's own allow
    iam.create_user(UserName="bounded")
    iam.put_user_policy(UserName="bounded", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="bounded")["AccessKey"]
    as_user = client_with(enforcing, "sts", key)
    assert as_user.assume_role(RoleArn=first, RoleSessionName="b1")["Credentials"]
    iam.put_user_permissions_boundary(UserName="bounded",
                                      PermissionsBoundary="arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    assert iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonSQSFullAccess")["Policy"]["Arn"]
    assert error_of(as_user.assume_role, RoleArn=first, RoleSessionName="b2")[0] == "AccessDenied"


def test_iam_calls_default_to_the_calling_user(server) -> None:
    iam = server.client("iam")
    assert iam.get_user()["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    iam.create_user(UserName="self")
    key = iam.create_access_key(UserName="self")["AccessKey"]
    as_user = client_with(server, "iam", key)
    assert as_user.get_user()["User"]["UserName"] == "self"
    assert [k["AccessKeyId"] for k in as_user.list_access_keys()["AccessKeyMetadata"]] == [key["AccessKeyId"]]
    role = iam.create_role(RoleName="worker", AssumeRolePolicyDocument=ROOT_TRUST)["Role"]["Arn"]
    creds = server.client("sts").assume_role(RoleArn=role, RoleSessionName="w1")["Credentials"]
    assert error_of(client_with(server, "iam", creds).list_access_keys) == (
        "ValidationError", "Must specify userName when calling with non-User credentials", 400)
