"""IAM with boto3 and the aws CLI against a real server (SQLite and PostgreSQL): users, groups,
access keys, roles and trust policies, inline and managed policies with versions, instance profiles,
service-linked roles, tags, AWS managed policies; AWS's errors for each misuse."""

from __future__ import annotations

import json
from pathlib import Path

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


# == roles ==========================================================================================
def test_roles_trust_policies_descriptions_and_durations(server) -> None:
    iam = server.client("iam")
    role = iam.create_role(RoleName="fn-role", Path="/service/", AssumeRolePolicyDocument=TRUST,
                           Description="runs functions", MaxSessionDuration=7200)["Role"]
    assert role["RoleId"].startswith("AROA") and role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/service/fn-role"
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)          # URL-encoded on the wire
    got = iam.get_role(RoleName="FN-ROLE")["Role"]
    assert (got["Description"], got["MaxSessionDuration"], got["RoleLastUsed"]) == ("runs functions", 7200, {})
    iam.update_role(RoleName="fn-role", MaxSessionDuration=43200)
    updated = iam.update_role_description(RoleName="fn-role", Description="still runs functions")["Role"]
    assert (updated["Description"], updated["MaxSessionDuration"]) == ("still runs functions", 43200)
    code, message, _ = error_of(iam.update_role, RoleName="fn-role", MaxSessionDuration=50000)
    assert code == "ValidationError" and "Member must have value less than or equal to 43200" in message
    new_trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]},
        "Action": "sts:AssumeRole"}]})
    iam.update_assume_role_policy(RoleName="fn-role", PolicyDocument=new_trust)
    assert iam.get_role(RoleName="fn-role")["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/service/")["Roles"]] == ["fn-role"]
    assert error_of(iam.create_role, RoleName="Fn-Role", AssumeRolePolicyDocument=TRUST) == (
        "EntityAlreadyExists", "Role with name Fn-Role already exists.", 409)
    assert error_of(iam.get_role, RoleName="nope") == ("NoSuchEntity", "The role with name nope cannot be found.",
                                                      404)


def test_trust_policies_are_checked(server) -> None:
    iam = server.client("iam")
    with_resource = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Resource": "*"}]})
    assert error_of(iam.create_role, RoleName="r", AssumeRolePolicyDocument=with_resource) == (
        "MalformedPolicyDocument", "Has prohibited field Resource", 400)
    no_principal = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                                       "Action": "sts:AssumeRole"}]})
    assert error_of(iam.create_role, RoleName="r", AssumeRolePolicyDocument=no_principal)[:2] == (
        "MalformedPolicyDocument", "Missing required field Principal")
    ghost = f"arn:aws:iam::{ACCOUNT}:user/ghost"
    names_a_ghost = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": ghost}, "Action": "sts:AssumeRole"}]})
    assert error_of(iam.create_role, RoleName="r", AssumeRolePolicyDocument=names_a_ghost)[:2] == (
        "MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{ghost}"')
    iam.create_user(UserName="ghost")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=names_a_ghost)
    big = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": f"s{i}.amazonaws.com"}, "Action": "sts:AssumeRole"}
        for i in range(40)]})
    assert error_of(iam.create_role, RoleName="big", AssumeRolePolicyDocument=big)[:2] == (
        "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")


def test_delete_role_conflicts_and_instance_profiles(server) -> None:
    iam = server.client("iam")
    iam.create_role(RoleName="ec2-role", AssumeRolePolicyDocument=TRUST)
    iam.create_role(RoleName="other", AssumeRolePolicyDocument=TRUST)
    profile = iam.create_instance_profile(InstanceProfileName="web", Path="/apps/")["InstanceProfile"]
    assert profile["InstanceProfileId"].startswith("AIPA") and profile["Roles"] == []
    assert profile["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/apps/web"
    iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="ec2-role")
    assert error_of(iam.add_role_to_instance_profile, InstanceProfileName="web", RoleName="other") == (
        "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1", 409)
    got = iam.get_instance_profile(InstanceProfileName="web")["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == ["ec2-role"]
    assert [p["InstanceProfileName"] for p in
            iam.list_instance_profiles_for_role(RoleName="ec2-role")["InstanceProfiles"]] == ["web"]
    assert error_of(iam.delete_role, RoleName="ec2-role")[:2] == (
        "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
    assert error_of(iam.delete_instance_profile, InstanceProfileName="web")[1] == (
        "Cannot delete entity, must remove roles from instance profile first.")
    iam.remove_role_from_instance_profile(InstanceProfileName="web", RoleName="ec2-role")
    iam.delete_instance_profile(InstanceProfileName="web")
    assert error_of(iam.get_instance_profile, InstanceProfileName="web") == (
        "NoSuchEntity", "Instance Profile web cannot be found.", 404)
    iam.put_role_policy(RoleName="ec2-role", PolicyName="inline", PolicyDocument=S3_READ)
    assert error_of(iam.delete_role, RoleName="ec2-role")[1] == "Cannot delete entity, must delete policies first."
    iam.delete_role_policy(RoleName="ec2-role", PolicyName="inline")
    iam.attach_role_policy(RoleName="ec2-role", PolicyArn=LAMBDA_BASIC)
    assert error_of(iam.delete_role, RoleName="ec2-role")[1] == (
        "Cannot delete entity, must detach all policies first.")
    iam.detach_role_policy(RoleName="ec2-role", PolicyArn=LAMBDA_BASIC)
    iam.delete_role(RoleName="ec2-role")
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["other"]


def test_service_linked_roles_are_stored_and_protected(server) -> None:
    iam = server.client("iam")
    role = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForECS" and role["Path"] == "/aws-service-role/ecs.amazonaws.com/"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ecs.amazonaws.com"]}
    assert error_of(iam.create_service_linked_role, AWSServiceName="ecs.amazonaws.com")[:2] == (
        "InvalidInput", "Service role name AWSServiceRoleForECS has been taken in this account, please try a "
        "different suffix.")
    suffixed = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="web")
    assert suffixed["Role"]["RoleName"] == "AWSServiceRoleForAutoScaling_web"
    assert error_of(iam.delete_role, RoleName="AWSServiceRoleForECS") == (
        "UnmodifiableEntity", "Cannot perform the operation on the protected role 'AWSServiceRoleForECS' - this role "
        "is only modifiable by AWS", 400)
    assert error_of(iam.put_role_policy, RoleName="AWSServiceRoleForECS", PolicyName="p",
                    PolicyDocument=S3_READ)[0] == "UnmodifiableEntity"
    task = iam.delete_service_linked_role(RoleName="AWSServiceRoleForECS")["DeletionTaskId"]
    assert task.startswith("task/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS/")
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    assert error_of(iam.get_role, RoleName="AWSServiceRoleForECS")[0] == "NoSuchEntity"


# == policies =======================================================================================
def test_inline_policies_of_users_groups_and_roles(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="u")
    iam.create_group(GroupName="g")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    iam.put_user_policy(UserName="u", PolicyName="up", PolicyDocument=S3_READ)
    iam.put_group_policy(GroupName="g", PolicyName="gp", PolicyDocument=S3_READ)
    iam.put_role_policy(RoleName="r", PolicyName="rp", PolicyDocument=S3_READ)
    iam.put_role_policy(RoleName="r", PolicyName="rp", PolicyDocument=policy_doc("sqs:SendMessage"))  # replaces
    assert iam.get_user_policy(UserName="u", PolicyName="up")["PolicyDocument"] == json.loads(S3_READ)
    assert iam.get_group_policy(GroupName="g", PolicyName="gp")["GroupName"] == "g"
    assert iam.get_role_policy(RoleName="r", PolicyName="rp")["PolicyDocument"]["Statement"][0]["Action"] == [
        "sqs:SendMessage"]
    assert iam.list_role_policies(RoleName="r")["PolicyNames"] == ["rp"]
    assert error_of(iam.get_role_policy, RoleName="r", PolicyName="none") == (
        "NoSuchEntity", "The role policy with name none cannot be found.", 404)
    assert error_of(iam.delete_user_policy, UserName="u", PolicyName="none")[1] == (
        "The user policy with name none cannot be found.")
    big = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": [f"s3:GetObjectVersion{i}" for i in range(100)], "Resource": "*"}]})
    assert error_of(iam.put_user_policy, UserName="u", PolicyName="big", PolicyDocument=big)[:2] == (
        "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user u")


@pytest.mark.parametrize(("document", "message"), [
    ("not json", "Syntax errors in policy."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}),
     "Policy statement must contain actions."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}),
     "Policy statement must contain resources."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                         "Resource": "*", "Principal": "*"}]}),
     "Policy document should not specify a principal."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "GetObject",
                                                         "Resource": "*"}]}),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                         "Resource": "bucket"}]}),
     'Resource bucket must be in ARN format or "*".'),
    (json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "a", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Sid": "a", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}]}),
     "Statement IDs (SID) in a single policy must be unique."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                         "Resource": "arn:aws:iam:us-east-1:000000000000:user/x"}]}),
     "IAM resource arn:aws:iam:us-east-1:000000000000:user/x cannot contain region information."),
])
def test_malformed_policies_get_aws_messages(server, document: str, message: str) -> None:
    iam = server.client("iam")
    assert error_of(iam.create_policy, PolicyName="bad", PolicyDocument=document) == (
        "MalformedPolicyDocument", message, 400)
    iam.create_user(UserName="u")
    assert error_of(iam.put_user_policy, UserName="u", PolicyName="bad", PolicyDocument=document)[:2] == (
        "MalformedPolicyDocument", message)


def test_managed_policies_versions_and_the_five_version_limit(server) -> None:
    iam = server.client("iam")
    policy = iam.create_policy(PolicyName="app-read", Path="/app/", PolicyDocument=S3_READ, Description="reads",
                               Tags=[{"Key": "owner", "Value": "me"}])["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/app/app-read" and policy["PolicyId"].startswith("ANPA")
    assert (policy["DefaultVersionId"], policy["AttachmentCount"], policy["IsAttachable"]) == ("v1", 0, True)
    assert error_of(iam.create_policy, PolicyName="APP-READ", PolicyDocument=S3_READ) == (
        "EntityAlreadyExists", "A policy called APP-READ already exists. Duplicate names are not allowed.", 409)
    for i in range(2, 6):
        made = iam.create_policy_version(PolicyArn=arn, PolicyDocument=policy_doc(f"s3:Action{i}"),
                                         SetAsDefault=(i == 3))["PolicyVersion"]
        assert made["VersionId"] == f"v{i}" and made["IsDefaultVersion"] is (i == 3)
    assert error_of(iam.create_policy_version, PolicyArn=arn, PolicyDocument=S3_READ) == (
        "LimitExceeded", "A managed policy can have up to 5 versions. Before you create a new version, you must "
        "delete an existing version.", 409)
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v3"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v4")["PolicyVersion"]
    assert got["Document"]["Statement"][0]["Action"] == ["s3:Action4"] and got["IsDefaultVersion"] is False
    assert error_of(iam.delete_policy_version, PolicyArn=arn, VersionId="v3") == (
        "DeleteConflict", "Cannot delete the default version of a policy.", 409)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    made = iam.create_policy_version(PolicyArn=arn, PolicyDocument=S3_READ)["PolicyVersion"]
    assert made["VersionId"] == "v6"                            # numbers are never reused
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v6")
    assert error_of(iam.get_policy_version, PolicyArn=arn, VersionId="v1") == (
        "NoSuchEntity", f"Policy {arn} version v1 does not exist or is not attachable.", 404)
    assert error_of(iam.delete_policy, PolicyArn=arn)[:2] == (
        "DeleteConflict", "This policy has more than one version. Before you delete a policy, you must delete the "
        "policy's versions. The default version is deleted with the policy.")
    for v in ("v2", "v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    iam.delete_policy(PolicyArn=arn)
    assert error_of(iam.get_policy, PolicyArn=arn) == (
        "NoSuchEntity", f"Policy {arn} does not exist or is not attachable.", 404)


def test_attachments_aws_managed_policies_and_quotas(server) -> None:
    iam = server.client("iam")
    iam.create_role(RoleName="worker", AssumeRolePolicyDocument=TRUST)
    admin = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
    assert admin["PolicyName"] == "AdministratorAccess" and admin["PolicyId"].startswith("ANPA")
    version = iam.get_policy_version(PolicyArn=admin["Arn"], VersionId=admin["DefaultVersionId"])["PolicyVersion"]
    assert version["Document"]["Statement"][0] == {"Effect": "Allow", "Action": "*", "Resource": "*"}
    unknown = "arn:aws:iam::aws:policy/NoSuchManagedPolicy"
    assert error_of(iam.get_policy, PolicyArn=unknown) == (
        "NoSuchEntity", f"Policy {unknown} does not exist or is not attachable.", 404)
    assert error_of(iam.attach_role_policy, RoleName="worker", PolicyArn=unknown)[0] == "NoSuchEntity"
    sqs_full = "arn:aws:iam::aws:policy/AmazonSQSFullAccess"
    iam.attach_role_policy(RoleName="worker", PolicyArn=LAMBDA_BASIC)
    iam.attach_role_policy(RoleName="worker", PolicyArn=sqs_full)
    iam.attach_role_policy(RoleName="worker", PolicyArn=sqs_full)                 # attaching twice is a no-op
    attached = iam.list_attached_role_policies(RoleName="worker")["AttachedPolicies"]
    assert sorted(a["PolicyName"] for a in attached) == ["AWSLambdaBasicExecutionRole", "AmazonSQSFullAccess"]
    assert [a["PolicyName"] for a in iam.list_attached_role_policies(
        RoleName="worker", PathPrefix="/service-role/")["AttachedPolicies"]] == ["AWSLambdaBasicExecutionRole"]
    assert iam.get_policy(PolicyArn=sqs_full)["Policy"]["AttachmentCount"] == 1
    only = iam.list_policies(OnlyAttached=True)["Policies"]
    assert sorted(p["PolicyName"] for p in only) == ["AWSLambdaBasicExecutionRole", "AmazonSQSFullAccess"]
    assert iam.list_entities_for_policy(PolicyArn=sqs_full)["PolicyRoles"][0]["RoleName"] == "worker"
    assert error_of(iam.detach_role_policy, RoleName="worker", PolicyArn=admin["Arn"]) == (
        "NoSuchEntity", f"Policy {admin['Arn']} was not found.", 404)
    local = [iam.create_policy(PolicyName=f"p{i}", PolicyDocument=S3_READ)["Policy"]["Arn"] for i in range(9)]
    for arn in local[:8]:
        iam.attach_role_policy(RoleName="worker", PolicyArn=arn)
    assert error_of(iam.attach_role_policy, RoleName="worker", PolicyArn=local[8]) == (
        "LimitExceeded", "Cannot exceed quota for PoliciesPerRole: 10", 409)
    assert error_of(iam.delete_policy, PolicyArn=local[0]) == (
        "DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    scoped = iam.list_policies(Scope="Local", MaxItems=5)
    assert len(scoped["Policies"]) == 5 and scoped["IsTruncated"]
    rest = iam.list_policies(Scope="Local", Marker=scoped["Marker"])["Policies"]
    assert len(rest) == 4 and not {p["PolicyName"] for p in rest} & {p["PolicyName"] for p in scoped["Policies"]}
    assert all(p["Arn"].startswith(names) for p, names in
               [(p, "arn:aws:iam::aws:") for p in iam.list_policies(Scope="AWS")["Policies"]])


def test_tags_on_users_roles_policies_and_profiles(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="t")
    iam.tag_user(UserName="t", Tags=[{"Key": "Env", "Value": "dev"}, {"Key": "team", "Value": "a"}])
    iam.tag_user(UserName="t", Tags=[{"Key": "env", "Value": "prod"}])         # keys are case-insensitive
    assert iam.list_user_tags(UserName="t")["Tags"] == [{"Key": "env", "Value": "prod"},
                                                        {"Key": "team", "Value": "a"}]
    iam.untag_user(UserName="t", TagKeys=["ENV"])
    assert iam.list_user_tags(UserName="t")["Tags"] == [{"Key": "team", "Value": "a"}]
    iam.create_role(RoleName="tr", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_role(RoleName="tr", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    assert error_of(iam.tag_role, RoleName="tr", Tags=[{"Key": "one-more", "Value": "v"}]) == (
        "LimitExceeded", "The number of tags has reached the maximum limit.", 409)
    page = iam.list_role_tags(RoleName="tr", MaxItems=30)
    assert len(page["Tags"]) == 30 and page["IsTruncated"]
    assert len(iam.list_role_tags(RoleName="tr", Marker=page["Marker"])["Tags"]) == 20
    arn = iam.create_policy(PolicyName="tp", PolicyDocument=S3_READ)["Policy"]["Arn"]
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "cost", "Value": "1"}])
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "cost", "Value": "1"}]
    iam.create_instance_profile(InstanceProfileName="ip")
    iam.tag_instance_profile(InstanceProfileName="ip", Tags=[{"Key": "x", "Value": "y"}])
    assert iam.list_instance_profile_tags(InstanceProfileName="ip")["Tags"] == [{"Key": "x", "Value": "y"}]
    assert error_of(iam.tag_user, UserName="t", Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])[0] == \
        "InvalidInput"


def test_accounts_are_isolated(server) -> None:
    mine, theirs = server.client("iam"), server.client("iam", access_key="111111111111")
    mine.create_user(UserName="same")
    theirs.create_user(UserName="same")
    assert theirs.get_user(UserName="same")["User"]["Arn"] == "arn:aws:iam::111111111111:user/same"
    arn = mine.create_policy(PolicyName="mine", PolicyDocument=S3_READ)["Policy"]["Arn"]
    assert error_of(theirs.get_policy, PolicyArn=arn)[0] == "NoSuchEntity"


# == the aws CLI ===================================================================================
def test_cli_scripts_a_lambda_execution_role(server, tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(TRUST)
    made = json.loads(server.aws("iam", "create-role", "--role-name", "lambda-exec", "--assume-role-policy-document",
                                 f"file://{trust}", "--description", "for functions").stdout)["Role"]
    assert made["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/lambda-exec"
    server.aws("iam", "attach-role-policy", "--role-name", "lambda-exec", "--policy-arn", LAMBDA_BASIC)
    inline = tmp_path / "inline.json"
    inline.write_text(policy_doc("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"))
    server.aws("iam", "put-role-policy", "--role-name", "lambda-exec", "--policy-name", "queue",
               "--policy-document", f"file://{inline}")
    listed = json.loads(server.aws("iam", "list-attached-role-policies", "--role-name", "lambda-exec").stdout)
    assert listed["AttachedPolicies"] == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": LAMBDA_BASIC}]
    got = json.loads(server.aws("iam", "get-role-policy", "--role-name", "lambda-exec", "--policy-name",
                                "queue").stdout)
    assert got["PolicyDocument"]["Statement"][0]["Action"][0] == "sqs:ReceiveMessage"
    key = json.loads(server.aws("iam", "create-access-key").stdout)["AccessKey"]       # the root's own key
    assert key["AccessKeyId"].startswith("AKIA")
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}')
    failed = server.aws("iam", "create-policy", "--policy-name", "bad", "--policy-document", f"file://{bad}",
                        check=False)
    assert failed.returncode != 0 and "MalformedPolicyDocument" in failed.stderr
    assert "Policy statement must contain resources." in failed.stderr
    paged = json.loads(server.aws("iam", "list-policies", "--scope", "AWS", "--page-size", "2").stdout)
    assert len(paged["Policies"]) > 10                          # the CLI followed every page


# == the policy simulator ===========================================================================
def test_simulate_principal_and_custom_policies(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="sim")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="sim")
    iam.attach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    iam.put_user_policy(UserName="sim", PolicyName="no-delete", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]}))
    results = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/sim",
        ActionNames=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])["EvaluationResults"]
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in results}
    assert decisions == {"s3:GetObject": "allowed", "s3:PutObject": "implicitDeny",
                         "s3:DeleteObject": "explicitDeny"}
    by_action = {r["EvalActionName"]: r["MatchedStatements"] for r in results}
    assert by_action["s3:GetObject"] == [{"SourcePolicyId": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                                          "SourcePolicyType": "aws-managed"}]
    assert by_action["s3:DeleteObject"] == [{"SourcePolicyId": "no-delete", "SourcePolicyType": "user"}]
    custom = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})],
        ActionNames=["sqs:SendMessage"],
        ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"],
                         "ContextKeyType": "ip"}])["EvaluationResults"]
    assert custom[0]["EvalDecision"] == "allowed"
    assert error_of(iam.simulate_custom_policy, PolicyInputList=['{"Statement": "x"}'],
                    ActionNames=["s3:GetObject"])[0] == "MalformedPolicyDocument"


# == OpenID Connect providers =======================================================================
def test_open_id_connect_providers(server) -> None:
    iam = server.client("iam")
    created = json.loads(server.aws(
        "iam", "create-open-id-connect-provider", "--url", "https://token.actions.githubusercontent.com",
        "--client-id-list", "sts.amazonaws.com", "--thumbprint-list", "6938fd4d98bab03faadb97b34396831e3780aea1",
        "--tags", "Key=ci,Value=github").stdout)
    arn = created["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["Url"], got["ClientIDList"], got["Tags"]) == (
        "token.actions.githubusercontent.com", ["sts.amazonaws.com"], [{"Key": "ci", "Value": "github"}])
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="my-app")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["a" * 40])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["ClientIDList"] == ["sts.amazonaws.com", "my-app"] and got["ThumbprintList"] == ["a" * 40]
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == [{"Arn": arn}]
    assert error_of(iam.create_open_id_connect_provider, Url="https://token.actions.githubusercontent.com",
                    ThumbprintList=["a" * 40]) == (
        "EntityAlreadyExists", "Provider with url https://token.actions.githubusercontent.com already exists.", 409)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert error_of(iam.get_open_id_connect_provider, OpenIDConnectProviderArn=arn) == (
        "NoSuchEntity", f"OpenIDConnect Provider not found for arn {arn}", 404)


# == the account as a whole =========================================================================
def test_account_authorization_details_and_summary(server) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="aud")
    iam.create_group(GroupName="grp")
    iam.add_user_to_group(GroupName="grp", UserName="aud")
    iam.put_user_policy(UserName="aud", PolicyName="inline", PolicyDocument=S3_READ)
    iam.create_role(RoleName="svc", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName="svc", PolicyArn=LAMBDA_BASIC)
    iam.create_instance_profile(InstanceProfileName="svc-ip")
    iam.add_role_to_instance_profile(InstanceProfileName="svc-ip", RoleName="svc")
    iam.create_policy(PolicyName="local", PolicyDocument=S3_READ)
    details = iam.get_account_authorization_details()
    user = details["UserDetailList"][0]
    assert (user["UserName"], user["GroupList"]) == ("aud", ["grp"])
    assert user["UserPolicyList"][0]["PolicyDocument"] == json.loads(S3_READ)
    role = details["RoleDetailList"][0]
    assert role["AttachedManagedPolicies"] == [{"PolicyName": "AWSLambdaBasicExecutionRole",
                                                "PolicyArn": LAMBDA_BASIC}]
    assert role["InstanceProfileList"][0]["InstanceProfileName"] == "svc-ip"
    assert sorted(p["PolicyName"] for p in details["Policies"]) == ["AWSLambdaBasicExecutionRole", "local"]
    assert [g["GroupName"] for g in details["GroupDetailList"]] == ["grp"]
    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert (len(only_roles["RoleDetailList"]), only_roles["UserDetailList"]) == (1, [])
    paged = iam.get_paginator("get_account_authorization_details").paginate(PaginationConfig={"PageSize": 1})
    assert sum(len(p["UserDetailList"]) + len(p["RoleDetailList"]) + len(p["GroupDetailList"]) + len(p["Policies"])
               for p in paged) == 5
    summary = iam.get_account_summary()["SummaryMap"]
    assert (summary["Users"], summary["Roles"], summary["Groups"], summary["Policies"]) == (1, 1, 1, 1)
    assert summary["AccessKeysPerUserQuota"] == 2
