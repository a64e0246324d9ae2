"""Resource policies, destinations, account policies and data protection policies through boto3 and
the aws CLI, on both stores."""

from __future__ import annotations

import json

import pytest

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "Route53LogsToCloudWatchLogs", "Effect": "Allow", "Principal": {"Service": "route53.amazonaws.com"},
    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "arn:aws:logs:us-east-1:000000000000:*"}]})
GROUP_ARN = "arn:aws:logs:us-east-1:000000000000:log-group:/app"
DP = json.dumps({"Name": "dp", "Version": "2021-06-01", "Statement": [
    {"Sid": "audit", "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
     "Operation": {"Audit": {"FindingsDestination": {}}}},
    {"Sid": "redact", "DataIdentifier": ["arn:aws:dataprotection::aws:data-identifier/EmailAddress"],
     "Operation": {"Deidentify": {"MaskConfig": {}}}}]})


def test_resource_policies(server):
    logs = server.client("logs")
    out = logs.put_resource_policy(policyName="route53", policyDocument=POLICY)
    assert out["resourcePolicy"]["policyName"] == "route53"
    assert out["resourcePolicy"]["policyDocument"] == POLICY
    assert out["resourcePolicy"]["policyScope"] == "ACCOUNT"
    assert isinstance(out["resourcePolicy"]["lastUpdatedTime"], int)
    for i in range(9):
        logs.put_resource_policy(policyName=f"p{i}", policyDocument=POLICY)
    with pytest.raises(logs.exceptions.LimitExceededException):
        logs.put_resource_policy(policyName="eleventh", policyDocument=POLICY)
    logs.put_resource_policy(policyName="route53", policyDocument=POLICY)     # replacing is not adding
    listed = logs.describe_resource_policies(limit=4)
    assert [p["policyName"] for p in listed["resourcePolicies"]] == ["p0", "p1", "p2", "p3"]
    rest = logs.describe_resource_policies(limit=50, nextToken=listed["nextToken"])["resourcePolicies"]
    assert [p["policyName"] for p in rest][-1] == "route53" and len(rest) == 6
    with pytest.raises(logs.exceptions.InvalidParameterException) as e:
        logs.put_resource_policy(policyName="big", policyDocument=json.dumps({"x": "y" * 5200}))
    assert "Member must have length less than or equal to 5120" in str(e.value)
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_resource_policy(policyName="p0", policyDocument="{not json")
    logs.delete_resource_policy(policyName="route53")
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as e:
        logs.delete_resource_policy(policyName="route53")
    assert "Policy with name [route53] does not exist" in str(e.value)

    # a log group's own policy, guarded by its revision id
    logs.create_log_group(logGroupName="/app")
    first = logs.put_resource_policy(policyDocument=POLICY, resourceArn=GROUP_ARN)
    assert first["resourcePolicy"]["policyScope"] == "RESOURCE"
    assert first["resourcePolicy"]["resourceArn"] == GROUP_ARN
    with pytest.raises(logs.exceptions.OperationAbortedException):
        logs.put_resource_policy(policyDocument=POLICY, resourceArn=GROUP_ARN, expectedRevisionId="stale")
    second = logs.put_resource_policy(policyDocument=POLICY, resourceArn=GROUP_ARN,
                                      expectedRevisionId=first["revisionId"])
    assert second["revisionId"] != first["revisionId"]
    got = logs.describe_resource_policies(policyScope="RESOURCE", resourceArn=GROUP_ARN)["resourcePolicies"]
    assert [p["revisionId"] for p in got] == [second["revisionId"]]
    logs.delete_resource_policy(resourceArn=GROUP_ARN, expectedRevisionId=second["revisionId"])
    assert logs.describe_resource_policies(policyScope="RESOURCE", resourceArn=GROUP_ARN)["resourcePolicies"] == []
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_resource_policy(policyDocument=POLICY, resourceArn=GROUP_ARN + "-missing")


def test_destinations_and_their_tags(server):
    logs = server.client("logs")
    out = logs.put_destination(destinationName="central", targetArn="arn:aws:kinesis:us-east-1:111111111111:stream/s",
                               roleArn="arn:aws:iam::000000000000:role/CWLtoKinesis", tags={"team": "ops"})
    arn = "arn:aws:logs:us-east-1:000000000000:destination:central"
    assert out["destination"]["arn"] == arn and out["destination"]["destinationName"] == "central"
    created = out["destination"]["creationTime"]
    access = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "222222222222"},
                                                                  "Action": "logs:PutSubscriptionFilter",
                                                                  "Resource": arn}]})
    logs.put_destination_policy(destinationName="central", accessPolicy=access)
    server.aws("logs", "put-destination", "--destination-name", "backup", "--target-arn",
               "arn:aws:firehose:us-east-1:000000000000:deliverystream/d", "--role-arn",
               "arn:aws:iam::000000000000:role/r")
    listed = logs.describe_destinations()["destinations"]
    assert [d["destinationName"] for d in listed] == ["backup", "central"]
    assert listed[1]["accessPolicy"] == access and listed[1]["creationTime"] == created
    assert [d["destinationName"] for d in logs.describe_destinations(DestinationNamePrefix="cen")["destinations"]] \
        == ["central"]
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "ops"}
    logs.tag_resource(resourceArn=arn, tags={"env": "dev"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "ops", "env": "dev"}
    # a subscription filter cannot deliver through one: its targets are services tsunagi does not run
    logs.create_log_group(logGroupName="/g")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_subscription_filter(logGroupName="/g", filterName="f", filterPattern="", destinationArn=arn)
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_destination_policy(destinationName="nope", accessPolicy=access)
    logs.delete_destination(destinationName="central")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_destination(destinationName="central")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.list_tags_for_resource(resourceArn=arn)


def test_account_and_data_protection_policies(server):
    logs = server.client("logs")
    out = logs.put_account_policy(policyName="dp", policyDocument=DP, policyType="DATA_PROTECTION_POLICY")
    assert out["accountPolicy"] | {"lastUpdatedTime": 0} == {
        "policyName": "dp", "policyDocument": DP, "lastUpdatedTime": 0, "policyType": "DATA_PROTECTION_POLICY",
        "scope": "ALL", "accountId": "000000000000"}
    with pytest.raises(logs.exceptions.LimitExceededException):
        logs.put_account_policy(policyName="dp2", policyDocument=DP, policyType="DATA_PROTECTION_POLICY")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_account_policy(policyName="dp", policyDocument=DP, policyType="DATA_PROTECTION_POLICY",
                                selectionCriteria='LogGroupName NOT IN ["/x"]')
    sub = json.dumps({"DestinationArn": "arn:aws:lambda:us-east-1:000000000000:function:f", "FilterPattern": ""})
    logs.put_account_policy(policyName="subs", policyDocument=sub, policyType="SUBSCRIPTION_FILTER_POLICY",
                            selectionCriteria='LogGroupName NOT IN ["/x"]')
    got = logs.describe_account_policies(policyType="SUBSCRIPTION_FILTER_POLICY")["accountPolicies"]
    assert [(p["policyName"], p["selectionCriteria"]) for p in got] == [("subs", 'LogGroupName NOT IN ["/x"]')]
    assert logs.describe_account_policies(policyType="DATA_PROTECTION_POLICY", policyName="nope")["accountPolicies"] == []
    server.aws("logs", "delete-account-policy", "--policy-name", "dp", "--policy-type", "DATA_PROTECTION_POLICY")
    assert logs.describe_account_policies(policyType="DATA_PROTECTION_POLICY")["accountPolicies"] == []
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_account_policy(policyName="dp", policyType="DATA_PROTECTION_POLICY")

    logs.create_log_group(logGroupName="/app")
    empty = logs.get_data_protection_policy(logGroupIdentifier="/app")
    assert empty["logGroupIdentifier"] == "/app" and "policyDocument" not in empty
    put = logs.put_data_protection_policy(logGroupIdentifier=GROUP_ARN, policyDocument=DP)
    assert put["logGroupIdentifier"] == GROUP_ARN and put["policyDocument"] == DP
    got = logs.get_data_protection_policy(logGroupIdentifier="/app")
    assert got["policyDocument"] == DP and got["lastUpdatedTime"] == put["lastUpdatedTime"]
    assert logs.describe_log_groups(logGroupNamePrefix="/app")["logGroups"][0]["dataProtectionStatus"] == "ACTIVATED"
    logs.delete_data_protection_policy(logGroupIdentifier="/app")
    assert logs.describe_log_groups(logGroupNamePrefix="/app")["logGroups"][0]["dataProtectionStatus"] == "DELETED"
    assert "policyDocument" not in logs.get_data_protection_policy(logGroupIdentifier="/app")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_data_protection_policy(logGroupIdentifier="/app")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_data_protection_policy(logGroupIdentifier="/missing", policyDocument=DP)
    # a deleted group takes its policy with it
    logs.put_data_protection_policy(logGroupIdentifier="/app", policyDocument=DP)
    logs.delete_log_group(logGroupName="/app")
    logs.create_log_group(logGroupName="/app")
    assert "policyDocument" not in logs.get_data_protection_policy(logGroupIdentifier="/app")
    assert "dataProtectionStatus" not in logs.describe_log_groups(logGroupNamePrefix="/app")["logGroups"][0]
