"""S3 answering exactly as AWS does (issue 22, S3): part reads of ordinary objects, bucket tagging's
status and empty sets, MaxKeys over common prefixes, MalformedXML on missing lists, 304 headers,
copy-onto-itself, HeadBucket headers, ACLs, regions, Object Lock. boto3, both stores."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema"


def err(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message", "")


def test_part_number_on_an_ordinary_object(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="parts")
    s3.put_object(Bucket="parts", Key="k", Body=b"0123456789")
    got = s3.get_object(Bucket="parts", Key="k", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 0-9/10"
    assert got["ContentLength"] == 10
    assert "PartsCount" not in got
    assert "x-amz-mp-parts-count" not in got["ResponseMetadata"]["HTTPHeaders"]
    assert got["Body"].read() == b"0123456789"
    head = s3.head_object(Bucket="parts", Key="k", PartNumber=1)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentRange"] == "bytes 0-9/10" and head["ContentLength"] == 10
    assert "PartsCount" not in head
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="parts", Key="k", PartNumber=2)
    assert err(e) == ("InvalidPartNumber", 416, "The requested partnumber is not satisfiable")
    assert e.value.response["Error"]["PartNumberRequested"] == "2"
    assert e.value.response["Error"]["ActualPartCount"] == "1"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="parts", Key="k", PartNumber=2)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_put_bucket_tagging_answers_204_and_an_empty_set_deletes(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="tagged")
    r = s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_tagging(Bucket="tagged")["TagSet"] == [{"Key": "a", "Value": "1"}]
    r = s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": []})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket="tagged")
    assert err(e) == ("NoSuchTagSet", 404, "The TagSet does not exist")


def test_tagging_without_a_tag_set_is_malformed_xml(server):
    s3 = server.client("s3", parameter_validation=False)
    s3.create_bucket(Bucket="tagxml")
    s3.put_object(Bucket="tagxml", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket="tagxml", Tagging={})
    assert err(e) == ("MalformedXML", 400, MALFORMED)
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket="tagxml", Key="k", Tagging={})
    assert err(e) == ("MalformedXML", 400, MALFORMED)
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket="tagxml", Delete={"Objects": []})
    assert err(e) == ("MalformedXML", 400, MALFORMED)
    # an empty TagSet element is a valid document: it empties the object's tags
    s3.put_object_tagging(Bucket="tagxml", Key="k", Tagging={"TagSet": [{"Key": "t", "Value": "v"}]})
    s3.put_object_tagging(Bucket="tagxml", Key="k", Tagging={"TagSet": []})
    assert s3.get_object_tagging(Bucket="tagxml", Key="k")["TagSet"] == []


def test_not_modified_carries_etag_and_last_modified(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="cond")
    etag = s3.put_object(Bucket="cond", Key="k", Body=b"abc")["ETag"]
    for call in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as e:
            call(Bucket="cond", Key="k", IfNoneMatch=etag)
        headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
        assert headers["etag"] == etag
        assert headers["last-modified"].endswith("GMT")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="cond", Key="k", IfModifiedSince="2999-01-01T00:00:00Z")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag


def test_max_keys_counts_common_prefixes_with_keys(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="listing")
    for key in ("a/1", "a/2", "b/1", "c", "d/1", "e"):
        s3.put_object(Bucket="listing", Key=key, Body=b"")
    pages, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket="listing", Delimiter="/", MaxKeys=2, **kw)
        entries = [p["Prefix"] for p in r.get("CommonPrefixes", [])] + [c["Key"] for c in r.get("Contents", [])]
        assert r["KeyCount"] == len(entries) <= 2
        pages.append(sorted(entries))
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        token = r["NextContinuationToken"]
    assert pages == [["a/", "b/"], ["c", "d/"], ["e"]]
    r = s3.list_objects_v2(Bucket="listing", Delimiter="/", MaxKeys=1)
    assert r["CommonPrefixes"] == [{"Prefix": "a/"}] and "Contents" not in r and r["IsTruncated"] is True
    pages, marker = [], ""
    while True:
        r = s3.list_objects(Bucket="listing", Delimiter="/", MaxKeys=2, Marker=marker)
        pages.append(sorted([p["Prefix"] for p in r.get("CommonPrefixes", [])] +
                            [c["Key"] for c in r.get("Contents", [])]))
        if not r["IsTruncated"]:
            break
        marker = r["NextMarker"]
    assert pages == [["a/", "b/"], ["c", "d/"], ["e"]]


SELF_COPY = ("This copy request is illegal because it is trying to copy an object to itself without changing the "
             "object's metadata, storage class, website redirect location or encryption attributes.")


def test_copy_onto_itself(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="plain")
    s3.put_object(Bucket="plain", Key="k", Body=b"v1", Metadata={"a": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="plain", Key="k", CopySource="plain/k")
    assert err(e) == ("InvalidRequest", 400, SELF_COPY)
    # a change makes it legal: new metadata, or another storage class
    s3.copy_object(Bucket="plain", Key="k", CopySource="plain/k", MetadataDirective="REPLACE", Metadata={"a": "2"})
    assert s3.head_object(Bucket="plain", Key="k")["Metadata"] == {"a": "2"}
    s3.copy_object(Bucket="plain", Key="k", CopySource="plain/k", StorageClass="STANDARD_IA")
    assert s3.head_object(Bucket="plain", Key="k")["StorageClass"] == "STANDARD_IA"
    # a versioned bucket: the unchanged copy is a new version
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="versioned", Key="k", Body=b"v1")["VersionId"]
    r = s3.copy_object(Bucket="versioned", Key="k", CopySource="versioned/k")
    assert r["VersionId"] != first and r["CopySourceVersionId"] == first
    assert len(s3.list_object_versions(Bucket="versioned")["Versions"]) == 2
    # a bucket whose default encryption is SSE-KMS: the copy is re-encrypted, so it is allowed
    s3.create_bucket(Bucket="kmsbucket")
    s3.put_bucket_encryption(Bucket="kmsbucket", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    s3.put_object(Bucket="kmsbucket", Key="k", Body=b"secret")
    r = s3.copy_object(Bucket="kmsbucket", Key="k", CopySource="kmsbucket/k")
    assert r["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket="kmsbucket", Key="k")["Body"].read() == b"secret"
    # an explicit SSE-S3 default changes nothing: still refused
    s3.create_bucket(Bucket="aesbucket")
    s3.put_bucket_encryption(Bucket="aesbucket", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_object(Bucket="aesbucket", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket="aesbucket", Key="k", CopySource="aesbucket/k")
    assert err(e) == ("InvalidRequest", 400, SELF_COPY)


def test_head_bucket_headers(server):
    eu = server.client("s3", region="eu-west-1")
    eu.create_bucket(Bucket="eu-head", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    r = eu.head_bucket(Bucket="eu-head")
    headers = r["ResponseMetadata"]["HTTPHeaders"]
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert headers["x-amz-bucket-region"] == "eu-west-1"
    assert headers["x-amz-access-point-alias"] == "false"
    assert r["BucketRegion"] == "eu-west-1" and r["AccessPointAlias"] is False
    with pytest.raises(ClientError) as e:
        eu.head_bucket(Bucket="no-such-bucket-here")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert e.value.response["Error"]["Code"] == "404"



def test_create_bucket_in_another_region_from_us_east_1(server):
    us = server.client("s3")
    us.create_bucket(Bucket="far-bucket", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    assert us.get_bucket_location(Bucket="far-bucket")["LocationConstraint"] == "ap-south-1"
    assert us.head_bucket(Bucket="far-bucket")["BucketRegion"] == "ap-south-1"
    listed = {b["Name"]: b["BucketRegion"] for b in us.list_buckets()["Buckets"]}
    assert listed["far-bucket"] == "ap-south-1"
    ap = server.client("s3", region="ap-south-1")
    with pytest.raises(ClientError) as e:
        ap.create_bucket(Bucket="far-bucket", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    assert err(e)[:2] == ("BucketAlreadyOwnedByYou", 409)
    with pytest.raises(ClientError) as e:
        us.create_bucket(Bucket="odd-bucket", CreateBucketConfiguration={"LocationConstraint": "nowhere"})
    assert err(e) == ("InvalidLocationConstraint", 400, "The specified location-constraint is not valid")


ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def grants_of(answer):
    got = [(g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Grantee"]["Type"], g["Permission"])
           for g in answer["Grants"]]
    assert len(got) == len(set(got))
    return set(got)


def test_canned_and_header_acls_are_stored_and_returned(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="acls", ACL="public-read")
    owner = s3.get_bucket_acl(Bucket="acls")["Owner"]["ID"]
    assert grants_of(s3.get_bucket_acl(Bucket="acls")) == {
        (ALL_USERS, "Group", "READ"), (owner, "CanonicalUser", "FULL_CONTROL")}
    s3.put_bucket_acl(Bucket="acls", ACL="private")
    assert grants_of(s3.get_bucket_acl(Bucket="acls")) == {(owner, "CanonicalUser", "FULL_CONTROL")}
    s3.put_bucket_acl(Bucket="acls", ACL="log-delivery-write")
    logs = "http://acs.amazonaws.com/groups/s3/LogDelivery"
    assert grants_of(s3.get_bucket_acl(Bucket="acls")) == {
        (owner, "CanonicalUser", "FULL_CONTROL"), (logs, "Group", "READ_ACP"), (logs, "Group", "WRITE")}

    s3.put_object(Bucket="acls", Key="plain", Body=b"x")
    assert grants_of(s3.get_object_acl(Bucket="acls", Key="plain")) == {(owner, "CanonicalUser", "FULL_CONTROL")}
    s3.put_object(Bucket="acls", Key="pub", Body=b"x", ACL="public-read-write")
    answer = s3.get_object_acl(Bucket="acls", Key="pub")
    assert answer["Owner"]["ID"] == owner
    assert grants_of(answer) == {(ALL_USERS, "Group", "READ"), (ALL_USERS, "Group", "WRITE"),
                                 (owner, "CanonicalUser", "FULL_CONTROL")}
    other = "a" * 64
    s3.put_object(Bucket="acls", Key="granted", Body=b"x", GrantRead=f'id="{other}", uri="{ALL_USERS}"',
                  GrantFullControl=f'id="{owner}"')
    assert grants_of(s3.get_object_acl(Bucket="acls", Key="granted")) == {
        (ALL_USERS, "Group", "READ"), (other, "CanonicalUser", "READ"), (owner, "CanonicalUser", "FULL_CONTROL")}
    # PutObjectAcl with a canned ACL, then with a document
    s3.put_object_acl(Bucket="acls", Key="plain", ACL="authenticated-read")
    assert grants_of(s3.get_object_acl(Bucket="acls", Key="plain")) == {
        ("http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "Group", "READ"),
        (owner, "CanonicalUser", "FULL_CONTROL")}
    s3.put_object_acl(Bucket="acls", Key="plain", AccessControlPolicy={
        "Owner": {"ID": owner},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ_ACP"}]})
    answer = s3.get_object_acl(Bucket="acls", Key="plain")
    assert grants_of(answer) == {(ALL_USERS, "Group", "READ_ACP"), (owner, "CanonicalUser", "FULL_CONTROL")}
    assert any(g["Grantee"].get("DisplayName") for g in answer["Grants"])
    # a copy takes the request's ACL, never the source's
    s3.copy_object(Bucket="acls", Key="copied", CopySource="acls/pub")
    assert grants_of(s3.get_object_acl(Bucket="acls", Key="copied")) == {(owner, "CanonicalUser", "FULL_CONTROL")}


def test_acl_refusals(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="acl-no")
    s3.put_object(Bucket="acl-no", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object_acl(Bucket="acl-no", Key="k", ACL="public-read", GrantRead=f'uri="{ALL_USERS}"')
    assert err(e) == ("InvalidRequest", 400, "Specifying both Canned ACLs and Header Grants is not allowed")
    with pytest.raises(ClientError) as e:
        s3.put_object_acl(Bucket="acl-no", Key="k", GrantRead='emailAddress="someone@example.com"')
    assert err(e)[:2] == ("UnresolvableGrantByEmailAddress", 400)
    s3.create_bucket(Bucket="acl-enforced", ObjectOwnership="BucketOwnerEnforced")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="acl-enforced", Key="k", Body=b"x", ACL="public-read")
    assert err(e) == ("AccessControlListNotSupported", 400, "The bucket does not allow ACLs")
    s3.put_object(Bucket="acl-enforced", Key="k", Body=b"x", ACL="bucket-owner-full-control")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket="acl-enforced", ACL="public-read")
    assert err(e) == ("AccessControlListNotSupported", 400, "The bucket does not allow ACLs")


LOCK_MISSING = ("InvalidRequest", 400, "Bucket is missing Object Lock Configuration")
PROTECTED = ("AccessDenied", 403, "Access Denied because object protected by object lock.")


def test_object_lock_headers_are_refused_without_object_lock(server):
    import datetime as dt
    s3 = server.client("s3")
    s3.create_bucket(Bucket="unlocked")
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="unlocked", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=until)
    assert err(e) == LOCK_MISSING
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="unlocked", Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON")
    assert err(e) == LOCK_MISSING
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket="unlocked", Key="k", ObjectLockLegalHoldStatus="ON")
    assert err(e) == LOCK_MISSING
    s3.put_object(Bucket="unlocked", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object_retention(Bucket="unlocked", Key="k")
    assert err(e) == LOCK_MISSING
    with pytest.raises(ClientError) as e:
        s3.put_object_legal_hold(Bucket="unlocked", Key="k", LegalHold={"Status": "ON"})
    assert err(e) == LOCK_MISSING
    with pytest.raises(ClientError) as e:
        s3.get_object_lock_configuration(Bucket="unlocked")
    assert err(e) == ("ObjectLockConfigurationNotFoundError", 404,
                      "Object Lock configuration does not exist for this bucket")
    assert "ObjectLockMode" not in s3.head_object(Bucket="unlocked", Key="k")


def test_object_lock_retention_and_legal_hold(server):
    import datetime as dt
    s3 = server.client("s3")
    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    assert s3.get_object_lock_configuration(Bucket="locked")["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    v1 = s3.put_object(Bucket="locked", Key="gov", Body=b"x", ObjectLockMode="GOVERNANCE",
                       ObjectLockRetainUntilDate=until)["VersionId"]
    head = s3.head_object(Bucket="locked", Key="gov")
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] == until
    assert s3.get_object(Bucket="locked", Key="gov")["ObjectLockMode"] == "GOVERNANCE"
    retention = s3.get_object_retention(Bucket="locked", Key="gov")["Retention"]
    assert retention == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    with pytest.raises(ClientError) as e:
        s3.get_object_legal_hold(Bucket="locked", Key="gov")
    assert err(e) == ("NoSuchObjectLockConfiguration", 404,
                      "The specified object does not have a ObjectLock configuration")
    # the locked version cannot be deleted; a plain delete only adds a delete marker
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="locked", Key="gov", VersionId=v1)
    assert err(e) == PROTECTED
    r = s3.delete_objects(Bucket="locked", Delete={"Objects": [{"Key": "gov", "VersionId": v1}]})
    assert r["Errors"][0]["Code"] == "AccessDenied"
    assert s3.delete_object(Bucket="locked", Key="gov")["DeleteMarker"] is True
    # shortening governance retention needs the bypass; so does deleting
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket="locked", Key="gov", VersionId=v1, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": until - dt.timedelta(hours=1)})
    assert err(e)[:2] == ("AccessDenied", 403)
    s3.delete_object(Bucket="locked", Key="gov", VersionId=v1, BypassGovernanceRetention=True)
    # legal hold
    v2 = s3.put_object(Bucket="locked", Key="held", Body=b"x", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.head_object(Bucket="locked", Key="held")["ObjectLockLegalHoldStatus"] == "ON"
    assert s3.get_object_legal_hold(Bucket="locked", Key="held")["LegalHold"] == {"Status": "ON"}
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="locked", Key="held", VersionId=v2, BypassGovernanceRetention=True)
    assert err(e) == PROTECTED
    s3.put_object_legal_hold(Bucket="locked", Key="held", LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket="locked", Key="held", VersionId=v2)
    # compliance cannot be bypassed
    v3 = s3.put_object(Bucket="locked", Key="comp", Body=b"x", ObjectLockMode="COMPLIANCE",
                       ObjectLockRetainUntilDate=until)["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="locked", Key="comp", VersionId=v3, BypassGovernanceRetention=True)
    assert err(e) == PROTECTED
    # bad headers
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="locked", Key="bad", Body=b"x", ObjectLockMode="GOVERNANCE")
    assert err(e) == ("InvalidArgument", 400, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode "
                      "must both be supplied")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="locked", Key="bad", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert err(e) == ("InvalidArgument", 400, "The retain until date must be in the future!")


def test_object_lock_default_retention(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="defaults")
    with pytest.raises(ClientError) as e:
        s3.put_object_lock_configuration(Bucket="defaults", ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    assert err(e) == ("InvalidBucketState", 409,
                      "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
    s3.put_bucket_versioning(Bucket="defaults", VersioningConfiguration={"Status": "Enabled"})
    conf = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}}
    s3.put_object_lock_configuration(Bucket="defaults", ObjectLockConfiguration=conf)
    assert s3.get_object_lock_configuration(Bucket="defaults")["ObjectLockConfiguration"] == conf
    vid = s3.put_object(Bucket="defaults", Key="k", Body=b"x")["VersionId"]
    assert s3.head_object(Bucket="defaults", Key="k")["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="defaults", Key="k", VersionId=vid)
    assert err(e) == PROTECTED


def test_head_bucket_of_another_account_is_403_with_its_region(server):
    server.client("s3", region="eu-west-1").create_bucket(
        Bucket="mine-only", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    other = server.client("s3", access_key="111111111111", region="eu-west-1")
    with pytest.raises(ClientError) as e:
        other.head_bucket(Bucket="mine-only")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"


def test_accelerate_configuration_is_stored_and_returned(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="fast")
    r = s3.get_bucket_accelerate_configuration(Bucket="fast")
    assert "Status" not in r
    s3.put_bucket_accelerate_configuration(Bucket="fast", AccelerateConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_accelerate_configuration(Bucket="fast")["Status"] == "Enabled"
    s3.put_bucket_accelerate_configuration(Bucket="fast", AccelerateConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_accelerate_configuration(Bucket="fast")["Status"] == "Suspended"
    s3.create_bucket(Bucket="has.dots")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_accelerate_configuration(Bucket="has.dots", AccelerateConfiguration={"Status": "Enabled"})
    assert err(e) == ("InvalidRequest", 400,
                      "S3 Transfer Acceleration is not supported for buckets with periods (.) in their names")
    raw = server.client("s3", parameter_validation=False)
    with pytest.raises(ClientError) as e:
        raw.put_bucket_accelerate_configuration(Bucket="fast", AccelerateConfiguration={"Status": "Fast"})
    assert err(e) == ("MalformedXML", 400, MALFORMED)


def test_metrics_and_inventory_configurations_are_stored_by_id(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="configs")
    metrics = {"Id": "m1", "Filter": {"Prefix": "logs/"}}
    s3.put_bucket_metrics_configuration(Bucket="configs", Id="m1", MetricsConfiguration=metrics)
    assert s3.get_bucket_metrics_configuration(Bucket="configs", Id="m1")["MetricsConfiguration"] == metrics
    listed = s3.list_bucket_metrics_configurations(Bucket="configs")
    assert listed["MetricsConfigurationList"] == [metrics] and listed["IsTruncated"] is False
    s3.delete_bucket_metrics_configuration(Bucket="configs", Id="m1")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_metrics_configuration(Bucket="configs", Id="m1")
    assert err(e) == ("NoSuchConfiguration", 404, "The specified configuration does not exist.")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket_metrics_configuration(Bucket="configs", Id="m1")
    assert err(e) == ("NoSuchConfiguration", 404, "The specified configuration does not exist.")
    assert "MetricsConfigurationList" not in s3.list_bucket_metrics_configurations(Bucket="configs")
    inventory = {"Id": "inv", "IsEnabled": True, "IncludedObjectVersions": "Current",
                 "Schedule": {"Frequency": "Daily"},
                 "Destination": {"S3BucketDestination": {"Bucket": "arn:aws:s3:::configs", "Format": "CSV"}}}
    s3.put_bucket_inventory_configuration(Bucket="configs", Id="inv", InventoryConfiguration=inventory)
    got = s3.get_bucket_inventory_configuration(Bucket="configs", Id="inv")["InventoryConfiguration"]
    assert got == inventory
    assert s3.list_bucket_inventory_configurations(Bucket="configs")["InventoryConfigurationList"] == [inventory]
    s3.delete_bucket_inventory_configuration(Bucket="configs", Id="inv")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_inventory_configuration(Bucket="configs", Id="inv")
    assert err(e) == ("NoSuchConfiguration", 404, "The specified configuration does not exist.")
