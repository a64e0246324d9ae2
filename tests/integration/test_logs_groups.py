"""ListLogGroups, log group classes and AWS's ARN forms, through boto3 and the aws CLI on both stores."""

from __future__ import annotations

import json

import pytest


def test_list_log_groups_with_boto3_and_the_cli(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/orders")
    logs.create_log_group(logGroupName="/aws/lambda/billing", logGroupClass="INFREQUENT_ACCESS")
    logs.create_log_group(logGroupName="/vended/delivery", logGroupClass="DELIVERY")
    for i in range(5):
        logs.create_log_group(logGroupName=f"/many/{i}")

    out = logs.list_log_groups(logGroupNamePattern="^/aws/lambda")
    assert out["logGroups"] == [
        {"logGroupName": "/aws/lambda/billing", "logGroupClass": "INFREQUENT_ACCESS",
         "logGroupArn": "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/billing"},
        {"logGroupName": "/aws/lambda/orders", "logGroupClass": "STANDARD",
         "logGroupArn": "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/orders"}]
    assert [g["logGroupName"] for g in logs.list_log_groups(logGroupClass="DELIVERY")["logGroups"]] == \
        ["/vended/delivery"]
    # paging by hand (the operation has no paginator)
    names, token = [], None
    while True:
        page = logs.list_log_groups(logGroupNamePattern="many", limit=2, **({"nextToken": token} if token else {}))
        assert len(page["logGroups"]) <= 2
        names += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == [f"/many/{i}" for i in range(5)]
    # DescribeLogGroups reports the class
    described = logs.describe_log_groups(logGroupNamePrefix="/vended")["logGroups"][0]
    assert described["logGroupClass"] == "DELIVERY"
    # the aws CLI
    out = json.loads(server.aws("logs", "list-log-groups", "--log-group-name-pattern", "billing|delivery").stdout)
    assert [g["logGroupName"] for g in out["logGroups"]] == ["/aws/lambda/billing", "/vended/delivery"]
    # bad input answers InvalidParameterException, as Logs does for every constraint
    logs = server.client("logs", parameter_validation=False)
    for bad in ({"limit": 0}, {"limit": 1001}, {"logGroupNamePattern": "x"}, {"logGroupClass": "COLD"}):
        with pytest.raises(logs.exceptions.InvalidParameterException):
            logs.list_log_groups(**bad)
    with pytest.raises(logs.exceptions.InvalidParameterException) as e:
        logs.create_log_group(logGroupName="/c", logGroupClass="COLD")
    assert "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]" in str(e.value)


def test_arn_forms(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/a", tags={"k": "v"})
    logs.create_log_stream(logGroupName="/a", logStreamName="s")
    star = logs.describe_log_groups(logGroupNamePrefix="/a")["logGroups"][0]["arn"]
    bare = logs.list_log_groups()["logGroups"][0]["logGroupArn"]
    assert star == bare + ":*"
    # logGroupIdentifier and the tagging API take the ARN without ":*", as AWS's patterns say
    assert logs.describe_log_streams(logGroupIdentifier=bare)["logStreams"][0]["logStreamName"] == "s"
    assert logs.list_tags_for_resource(resourceArn=bare)["tags"] == {"k": "v"}
    for call in (lambda: logs.describe_log_streams(logGroupIdentifier=star),
                 lambda: logs.list_tags_for_resource(resourceArn=star),
                 lambda: logs.describe_log_groups(logGroupIdentifiers=[star])):
        with pytest.raises(logs.exceptions.InvalidParameterException) as e:
            call()
        assert "failed to satisfy constraint" in str(e.value)


def test_model_patterns_answer_invalid_parameter(server):
    logs = server.client("logs", parameter_validation=False)
    with pytest.raises(logs.exceptions.InvalidParameterException) as e:
        logs.create_log_group(logGroupName="bad name")
    assert str(e.value).endswith("1 validation error detected: Value 'bad name' at 'logGroupName' failed to satisfy "
                                 "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")
    logs.create_log_group(logGroupName="/g")
    with pytest.raises(logs.exceptions.InvalidParameterException) as e:
        logs.put_metric_filter(logGroupName="/g", filterName="a:b", filterPattern="",
                               metricTransformations=[{"metricName": "m", "metricNamespace": "n", "metricValue": "1"}])
    assert "Value 'a:b' at 'filterName' failed to satisfy constraint" in str(e.value)
    # the vended-log operations model ValidationException, and answer it
    with pytest.raises(logs.exceptions.ValidationException) as e:
        logs.get_delivery_source(name="no spaces")
    assert "Member must satisfy regular expression pattern: [\\w-]*" in str(e.value)


def test_associate_and_disassociate_kms_key(server):
    logs, kms = server.client("logs"), server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    logs.create_log_group(logGroupName="/secret")
    bare = logs.list_log_groups()["logGroups"][0]["logGroupArn"]

    def key_of() -> str | None:
        return logs.describe_log_groups(logGroupNamePrefix="/secret")["logGroups"][0].get("kmsKeyId")
    logs.associate_kms_key(logGroupName="/secret", kmsKeyId=key)
    assert key_of() == key
    logs.disassociate_kms_key(resourceIdentifier=bare + ":*")      # this operation takes either ARN form
    assert key_of() is None
    logs.associate_kms_key(resourceIdentifier=bare, kmsKeyId=key)
    assert key_of() == key
    server.aws("logs", "disassociate-kms-key", "--log-group-name", "/secret")
    assert key_of() is None
    # account-wide: Logs Insights query results
    logs.associate_kms_key(resourceIdentifier="arn:aws:logs:us-east-1:000000000000:query-result:*", kmsKeyId=key)
    logs.disassociate_kms_key(resourceIdentifier="arn:aws:logs:us-east-1:000000000000:query-result:*")
    for bad in (rsa, "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000"):
        with pytest.raises(logs.exceptions.InvalidParameterException) as e:
            logs.associate_kms_key(logGroupName="/secret", kmsKeyId=bad)
        assert "Specified KMS key does not exist or is not allowed to be used with Arn" in str(e.value)
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.associate_kms_key(logGroupName="/nope", kmsKeyId=key)
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.associate_kms_key(logGroupName="/secret", resourceIdentifier=bare, kmsKeyId=key)
