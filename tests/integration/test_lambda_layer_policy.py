"""Layer versions as AWS shows them, and who may use one: AddLayerVersionPermission,
GetLayerVersionPolicy, RemoveLayerVersionPermission."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.integration.lambda_support import make_zip


def error(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_a_version_without_description_shows_none(server) -> None:
    lam = server.client("lambda")
    bare = lam.publish_layer_version(LayerName="bare", Content={"ZipFile": make_zip({"python/x.py": "X = 1"})})
    assert "Description" not in bare
    described = lam.publish_layer_version(LayerName="bare", Description="second",
                                          Content={"ZipFile": make_zip({"python/x.py": "X = 2"})})
    assert described["Description"] == "second"
    versions = {v["Version"]: v for v in lam.list_layer_versions(LayerName="bare")["LayerVersions"]}
    assert "Description" not in versions[1] and versions[2]["Description"] == "second"
    assert "Description" not in lam.get_layer_version(LayerName="bare", VersionNumber=1)


def test_layer_version_permissions(server) -> None:
    lam = server.client("lambda")
    arn = lam.publish_layer_version(LayerName="shared",
                                    Content={"ZipFile": make_zip({"python/x.py": "X = 1"})})["LayerVersionArn"]
    with pytest.raises(ClientError) as e:
        lam.get_layer_version_policy(LayerName="shared", VersionNumber=1)
    assert error(e) == ("ResourceNotFoundException", "No policy is associated with the given resource.", 404)

    added = lam.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="everyone",
                                             Action="lambda:GetLayerVersion", Principal="*")
    assert json.loads(added["Statement"]) == {"Sid": "everyone", "Effect": "Allow", "Principal": "*",
                                              "Action": "lambda:GetLayerVersion", "Resource": arn}
    org = lam.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="org",
                                           Action="lambda:GetLayerVersion", Principal="123456789012",
                                           OrganizationId="o-abcdefghij", RevisionId=added["RevisionId"])
    assert json.loads(org["Statement"])["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    policy = lam.get_layer_version_policy(LayerName="shared", VersionNumber=1)
    assert policy["RevisionId"] == org["RevisionId"]
    doc = json.loads(policy["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["everyone", "org"]
    assert doc["Statement"][1]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}

    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="everyone",
                                         Action="lambda:GetLayerVersion", Principal="*")
    assert error(e) == ("ResourceConflictException", "The statement id (everyone) provided already exists. Please "
                        "provide a new statement id, or remove the existing statement.", 409)
    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="stale",
                                         Action="lambda:GetLayerVersion", Principal="*", RevisionId=added["RevisionId"])
    assert error(e)[0::2] == ("PreconditionFailedException", 412)
    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(LayerName="shared", VersionNumber=9, StatementId="x",
                                         Action="lambda:GetLayerVersion", Principal="*")
    assert error(e)[0::2] == ("ResourceNotFoundException", 404)

    lam.remove_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="everyone")
    with pytest.raises(ClientError) as e:
        lam.remove_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="everyone")
    assert error(e) == ("ResourceNotFoundException", "Statement everyone is not found in resource policy.", 404)
    assert [s["Sid"] for s in json.loads(lam.get_layer_version_policy(
        LayerName="shared", VersionNumber=1)["Policy"])["Statement"]] == ["org"]
    lam.remove_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="org")
    with pytest.raises(ClientError) as e:
        lam.get_layer_version_policy(LayerName="shared", VersionNumber=1)
    assert error(e)[0] == "ResourceNotFoundException"
    # the policy is not part of what the version shows
    assert set(lam.get_layer_version(LayerName="shared", VersionNumber=1)) - {"ResponseMetadata"} == \
        {"Content", "LayerArn", "LayerVersionArn", "CreatedDate", "Version"}
