"""IAM with boto3 and the aws CLI against a real server (SQLite and PostgreSQL): users, groups,
access keys, roles and trust policies, inline and managed policies with versions, instance profiles,
service-linked roles, tags, AWS managed policies; AWS's errors for each misuse."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
S3_READ = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]})
LAMBDA_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def error_of(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response["Error"]
    return err["Code"], err["Message"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def policy_doc(*actions: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions),
                                                               "Resource": "*"}]})


# == users, groups, access keys ====================================================================
def test_users_are_global_case_insensitive_and_paged(server) -> None:
    iam = server.client("iam")
    made = iam.create_user(UserName="Alice", Path="/staff/", Tags=[{"Key": "team", "Value": "core"}])["User"]
    assert made["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/staff/Alice"
    assert made["UserId"].startswith("AIDA") and len(made["UserId"]) == 21
    got = iam.get_user(UserName="alice")["User"]          # IAM names are not told apart by case
    assert got["UserName"] == "Alice" and got["Tags"] == [{"Key": "team", "Value": "core"}]
    assert error_of(iam.create_user, UserName="ALICE") == ("EntityAlreadyExists",
                                                          "User with name ALICE already exists.", 409)
    for name in ("bob", "carol", "dave"):
        iam.create_user(UserName=name)
    first = iam.list_users(MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == ["Alice", "bob"] and first["IsTruncated"]
    rest = iam.list_users(Marker=first["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == ["carol", "dave"] and not rest["IsTruncated"]
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/staff/")["Users"]] == ["Alice"]
    assert error_of(iam.get_user, UserName="nobody") == ("NoSuchEntity",
                                                        "The user with name nobody cannot be found.", 404)


def test_names_are_checked_against_the_model(server) -> None:
    iam = server.client("iam")
    code, message, status = error_of(iam.create_user, UserName="has space")
    assert (code, status) == ("ValidationError", 400)
    assert message == ("1 validation error detected: Value 'has space' at 'userName' failed to satisfy constraint: "
                       "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    code, message, _ = error_of(iam.create_role, RoleName="r" * 65, AssumeRolePolicyDocument=TRUST)
    assert code == "ValidationError" and "Member must have length less than or equal to 64" in message


def test_access_keys_limit_status_and_last_used(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="ci")
    first = iam.create_access_key(UserName="ci")["AccessKey"]
    assert first["AccessKeyId"].startswith("AKIA") and len(first["AccessKeyId"]) == 20
    assert len(first["SecretAccessKey"]) == 40 and first["Status"] == "Active"
    iam.create_access_key(UserName="ci")
    assert error_of(iam.create_access_key, UserName="ci") == (
        "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    iam.update_access_key(UserName="ci", AccessKeyId=first["AccessKeyId"], Status="Inactive")
    listed = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]}
    assert listed[first["AccessKeyId"]] == "Inactive" and len(listed) == 2
    last = iam.get_access_key_last_used(AccessKeyId=first["AccessKeyId"])
    assert last["UserName"] == "ci" and last["AccessKeyLastUsed"]["ServiceName"] == "N/A"
    # GetAccessKeyInfo reads the account from the key id itself, as AWS does
    assert server.client("sts").get_access_key_info(AccessKeyId=first["AccessKeyId"])["Account"] == ACCOUNT
    iam.delete_access_key(UserName="ci", AccessKeyId=first["AccessKeyId"])
    assert error_of(iam.delete_access_key, UserName="ci", AccessKeyId=first["AccessKeyId"]) == (
        "NoSuchEntity", f"The Access Key with id {first['AccessKeyId']} cannot be found.", 404)


def test_groups_membership_and_delete_conflicts(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="erin")
    group = iam.create_group(GroupName="devs")["Group"]
    assert group["GroupId"].startswith("AGPA") and group["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/devs"
    iam.add_user_to_group(GroupName="devs", UserName="erin")
    assert [u["UserName"] for u in iam.get_group(GroupName="devs")["Users"]] == ["erin"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="erin")["Groups"]] == ["devs"]
    assert error_of(iam.delete_group, GroupName="devs") == (
        "DeleteConflict", "Cannot delete entity, must remove users from group first.", 409)
    key = iam.create_access_key(UserName="erin")["AccessKey"]["AccessKeyId"]
    assert error_of(iam.delete_user, UserName="erin")[:2] == (
        "DeleteConflict", "Cannot delete entity, must delete access keys first.")
    iam.delete_access_key(UserName="erin", AccessKeyId=key)
    assert error_of(iam.delete_user, UserName="erin")[1] == "Cannot delete entity, must remove users from group first."
    iam.remove_user_from_group(GroupName="devs", UserName="erin")
    iam.put_user_policy(UserName="erin", PolicyName="read", PolicyDocument=S3_READ)
    assert error_of(iam.delete_user, UserName="erin")[1] == "Cannot delete entity, must delete policies first."
    iam.delete_user_policy(UserName="erin", PolicyName="read")
    iam.attach_user_policy(UserName="erin", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert error_of(iam.delete_user, UserName="erin")[1] == "Cannot delete entity, must detach all policies first."
    iam.detach_user_policy(UserName="erin", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.delete_user(UserName="erin")
    iam.delete_group(GroupName="devs")
    assert iam.list_groups()["Groups"] == []


def test_groups_per_user_quota(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="joiner")
    for i in range(10):
        iam.create_group(GroupName=f"g{i}")
        iam.add_user_to_group(GroupName=f"g{i}", UserName="joiner")
    iam.create_group(GroupName="g10")
    assert error_of(iam.add_user_to_group, GroupName="g10", UserName="joiner") == (
        "LimitExceeded", "Cannot exceed quota for GroupsPerUser: 10", 409)


def test_rename_user_keeps_keys_groups_and_policies(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="old")
    iam.create_group(GroupName="team")
    iam.add_user_to_group(GroupName="team", UserName="old")
    key = iam.create_access_key(UserName="old")["AccessKey"]["AccessKeyId"]
    iam.put_user_policy(UserName="old", PolicyName="p", PolicyDocument=S3_READ)
    iam.update_user(UserName="old", NewUserName="new", NewPath="/moved/")
    assert error_of(iam.get_user, UserName="old")[0] == "NoSuchEntity"
    assert iam.get_user(UserName="new")["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/moved/new"
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="new")["AccessKeyMetadata"]] == [key]
    assert iam.list_user_policies(UserName="new")["PolicyNames"] == ["p"]
    assert [u["UserName"] for u in iam.get_group(GroupName="team")["Users"]] == ["new"]


def test_login_profiles(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="console")
    made = iam.create_login_profile(UserName="console", Password="Correct-Horse-9", PasswordResetRequired=True)
    assert made["LoginProfile"]["PasswordResetRequired"] is True
    assert error_of(iam.create_login_profile, UserName="console", Password="Correct-Horse-9")[0] == \
        "EntityAlreadyExists"
    assert error_of(iam.update_login_profile, UserName="console", Password="short")[0] == "PasswordPolicyViolation"
    assert error_of(iam.delete_user, UserName="console")[1] == "Cannot delete entity, must delete login profile first."
    iam.delete_login_profile(UserName="console")
    assert error_of(iam.get_login_profile, UserName="console") == (
        "NoSuchEntity", "Login Profile for User console cannot be found.", 404)
