"""S3 buckets and their configurations, with boto3, on both stores."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return e.value.response["Error"]["Code"]


def status(e: pytest.ExceptionInfo[ClientError]) -> int:
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_list_head_delete(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="alpha-bucket")
    s3.create_bucket(Bucket="beta.bucket")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert names == ["alpha-bucket", "beta.bucket"]
    assert s3.head_bucket(Bucket="alpha-bucket")["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert s3.get_bucket_location(Bucket="alpha-bucket")["LocationConstraint"] is None
    s3.delete_bucket(Bucket="alpha-bucket")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="alpha-bucket")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="alpha-bucket")
    assert code(e) == "NoSuchBucket"
    assert e.value.response["Error"]["BucketName"] == "alpha-bucket"


def test_location_constraint_and_its_errors(server):
    eu = server.client("s3", region="eu-west-1")
    eu.create_bucket(Bucket="eu-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert eu.get_bucket_location(Bucket="eu-bucket")["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as e:
        eu.create_bucket(Bucket="eu-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(e) == "BucketAlreadyOwnedByYou" and status(e) == 409
    with pytest.raises(ClientError) as e:
        eu.create_bucket(Bucket="eu-bucket-2")
    assert code(e) == "IllegalLocationConstraintException"
    with pytest.raises(ClientError) as e:
        eu.create_bucket(Bucket="eu-bucket-3", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    assert code(e) == "IllegalLocationConstraintException"
    us = server.client("s3")
    with pytest.raises(ClientError) as e:
        us.create_bucket(Bucket="us-bucket", CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert code(e) == "InvalidLocationConstraint"
    other = server.client("s3", access_key="111111111111", region="eu-west-1")
    with pytest.raises(ClientError) as e:
        other.create_bucket(Bucket="eu-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(e) == "BucketAlreadyExists"
    assert [b["Name"] for b in other.list_buckets()["Buckets"]] == []


@pytest.mark.parametrize("name", ["ab", "UPPER", "has_underscore", "-lead", "192.168.1.1", "a..b", "x" * 64])
def test_invalid_bucket_names(server, name):
    s3 = server.client("s3")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert code(e) == "InvalidBucketName"


def test_bucket_not_empty(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="full")
    s3.put_object(Bucket="full", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="full")
    assert code(e) == "BucketNotEmpty" and status(e) == 409
    s3.delete_object(Bucket="full", Key="k")
    s3.delete_bucket(Bucket="full")


def test_other_accounts_cannot_see_a_private_bucket(server):
    server.client("s3").create_bucket(Bucket="mine")
    other = server.client("s3", access_key="222222222222")
    with pytest.raises(ClientError) as e:
        other.list_objects_v2(Bucket="mine")
    assert code(e) == "AccessDenied"


def test_policy(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="pol")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket="pol")
    assert code(e) == "NoSuchBucketPolicy"
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                       "Resource": "arn:aws:s3:::pol/*"}]}
    s3.put_bucket_policy(Bucket="pol", Policy=json.dumps(policy))
    assert json.loads(s3.get_bucket_policy(Bucket="pol")["Policy"]) == policy
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket="pol", Policy="not json")
    assert code(e) == "MalformedPolicy"
    s3.delete_bucket_policy(Bucket="pol")
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket="pol")


def test_public_access_block_encryption_tagging_cors(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="conf")
    with pytest.raises(ClientError) as e:
        s3.get_public_access_block(Bucket="conf")
    assert code(e) == "NoSuchPublicAccessBlockConfiguration"
    pab = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    s3.put_public_access_block(Bucket="conf", PublicAccessBlockConfiguration=pab)
    assert s3.get_public_access_block(Bucket="conf")["PublicAccessBlockConfiguration"] == pab
    s3.delete_public_access_block(Bucket="conf")

    default = s3.get_bucket_encryption(Bucket="conf")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert default["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    s3.put_bucket_encryption(Bucket="conf", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    rule = s3.get_bucket_encryption(Bucket="conf")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["BucketKeyEnabled"] is True
    s3.delete_bucket_encryption(Bucket="conf")

    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket="conf")
    assert code(e) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket="conf", Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    assert s3.get_bucket_tagging(Bucket="conf")["TagSet"] == [{"Key": "team", "Value": "data"}]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket="conf", Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
    assert code(e) == "InvalidTag"
    s3.delete_bucket_tagging(Bucket="conf")

    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket="conf")
    assert code(e) == "NoSuchCORSConfiguration"
    rules = [{"AllowedMethods": ["GET", "PUT"], "AllowedOrigins": ["*"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 300}]
    s3.put_bucket_cors(Bucket="conf", CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket="conf")["CORSRules"] == rules
    s3.delete_bucket_cors(Bucket="conf")


def test_bucket_configuration_survives_a_restart(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="durable")
    s3.put_bucket_versioning(Bucket="durable", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="durable", Key="k", Body=b"kept")
    server.kill()
    server.start()
    s3 = server.client("s3")
    assert s3.get_bucket_versioning(Bucket="durable")["Status"] == "Enabled"
    assert s3.get_object(Bucket="durable", Key="k")["Body"].read() == b"kept"
