"""S3 event notifications delivered through the outbox to SQS (seed 000's path without SNS)."""

from __future__ import annotations

import json
import re
import time

import pytest
from botocore.exceptions import ClientError


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return e.value.response["Error"]["Code"]


@pytest.fixture
def env(server):
    s3, sqs = server.client("s3"), server.client("sqs")
    s3.create_bucket(Bucket="snssqstestbuckets3")
    url = sqs.create_queue(QueueName="snssqstestqueue", Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return s3, sqs, url, arn


def _drain(sqs, url, wait=1):
    out = []
    while True:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        msgs = r.get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        wait = 0


def _configure(s3, arn, events=("s3:ObjectCreated:*",), rules=({"Name": "suffix", "Value": "txt"},), cid="txt-only"):
    conf = {"Id": cid, "QueueArn": arn, "Events": list(events)}
    if rules:
        conf["Filter"] = {"Key": {"FilterRules": list(rules)}}
    s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3",
                                             NotificationConfiguration={"QueueConfigurations": [conf]})


def test_txt_upload_reaches_the_queue_in_aws_format_and_csv_does_not(env):
    s3, sqs, url, arn = env
    _configure(s3, arn)
    test_event = _drain(sqs, url)
    assert len(test_event) == 1 and test_event[0]["Event"] == "s3:TestEvent"
    assert test_event[0]["Service"] == "Amazon S3" and test_event[0]["Bucket"] == "snssqstestbuckets3"

    put = s3.put_object(Bucket="snssqstestbuckets3", Key="uploads/my report.txt", Body=b"hello")
    s3.put_object(Bucket="snssqstestbuckets3", Key="uploads/data.csv", Body=b"a,b")
    bodies = _drain(sqs, url)
    assert len(bodies) == 1
    (record,) = bodies[0]["Records"]
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventName"] == "ObjectCreated:Put"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["eventTime"])
    # the default credentials are the account's root: named by its customer id, like the bucket owner
    assert re.fullmatch(r"A[A-Z2-7]{13}", record["userIdentity"]["principalId"])
    assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}
    request_id = put["ResponseMetadata"]["RequestId"]
    assert record["responseElements"] == {"x-amz-request-id": request_id, "x-amz-id-2": request_id}
    s3rec = record["s3"]
    assert s3rec["s3SchemaVersion"] == "1.0" and s3rec["configurationId"] == "txt-only"
    assert s3rec["bucket"] == {"name": "snssqstestbuckets3",
                               "ownerIdentity": {"principalId": record["userIdentity"]["principalId"]},
                               "arn": "arn:aws:s3:::snssqstestbuckets3"}
    obj = s3rec["object"]
    assert obj["key"] == "uploads/my+report.txt"
    assert obj["size"] == 5 and obj["eTag"] == put["ETag"].strip('"')
    assert "versionId" not in obj
    assert re.fullmatch(r"[0-9A-F]{16,}", obj["sequencer"])


def test_event_types_and_filters(env):
    s3, sqs, url, arn = env
    s3.put_bucket_versioning(Bucket="snssqstestbuckets3", VersioningConfiguration={"Status": "Enabled"})
    _configure(s3, arn, events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"),
               rules=({"Name": "prefix", "Value": "in/"},), cid="all")
    _drain(sqs, url)
    v = s3.put_object(Bucket="snssqstestbuckets3", Key="in/a", Body=b"1")["VersionId"]
    s3.copy_object(Bucket="snssqstestbuckets3", Key="in/b", CopySource="snssqstestbuckets3/in/a")
    up = s3.create_multipart_upload(Bucket="snssqstestbuckets3", Key="in/c")["UploadId"]
    etag = s3.upload_part(Bucket="snssqstestbuckets3", Key="in/c", UploadId=up, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(Bucket="snssqstestbuckets3", Key="in/c", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.delete_object(Bucket="snssqstestbuckets3", Key="in/a")
    s3.delete_object(Bucket="snssqstestbuckets3", Key="in/a", VersionId=v)
    s3.put_object(Bucket="snssqstestbuckets3", Key="out/ignored", Body=b"1")
    records = [b["Records"][0] for b in _drain(sqs, url)]
    names = sorted((r["eventName"], r["s3"]["object"]["key"]) for r in records)
    assert names == [("ObjectCreated:CompleteMultipartUpload", "in/c"), ("ObjectCreated:Copy", "in/b"),
                     ("ObjectCreated:Put", "in/a"), ("ObjectRemoved:Delete", "in/a"),
                     ("ObjectRemoved:DeleteMarkerCreated", "in/a")]
    by_name = {r["eventName"]: r for r in records}
    assert by_name["ObjectCreated:Put"]["s3"]["object"]["versionId"] == v
    assert "size" not in by_name["ObjectRemoved:Delete"]["s3"]["object"]
    assert by_name["ObjectRemoved:Delete"]["s3"]["object"]["versionId"] == v


def test_only_the_configured_event_is_sent(env):
    s3, sqs, url, arn = env
    _configure(s3, arn, events=("s3:ObjectRemoved:Delete",), rules=())
    _drain(sqs, url)
    s3.put_object(Bucket="snssqstestbuckets3", Key="k", Body=b"1")
    assert _drain(sqs, url, wait=0) == []
    s3.delete_object(Bucket="snssqstestbuckets3", Key="k")
    (body,) = _drain(sqs, url)
    assert body["Records"][0]["eventName"] == "ObjectRemoved:Delete"


def test_configuration_round_trip_and_validation(env):
    s3, sqs, url, arn = env
    _configure(s3, arn)
    conf = s3.get_bucket_notification_configuration(Bucket="snssqstestbuckets3")
    # sent as "suffix": AWS answers the rule names as "Prefix" and "Suffix"
    assert conf["QueueConfigurations"] == [{"Id": "txt-only", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                            "Filter": {"Key": {"FilterRules": [{"Name": "Suffix", "Value": "txt"}]}}}]
    missing = arn.replace("snssqstestqueue", "no-such-queue")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": missing, "Events": ["s3:ObjectCreated:*"]}]})
    assert code(e) == "InvalidArgument"
    err = e.value.response["Error"]
    assert err["Message"] == "Unable to validate the following destination configurations"
    assert err["ArgumentName1"] == missing
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3", NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": "arn:aws:sns:us-east-1:000000000000:nope",
                                     "Events": ["s3:ObjectCreated:*"]}]})
    assert code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:Bogus"]}]})
    assert code(e) == "InvalidArgument"
    s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": missing, "Events": ["s3:ObjectCreated:*"]}]},
        SkipDestinationValidation=True)
    s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3", NotificationConfiguration={})
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket="snssqstestbuckets3")


def test_overlapping_configurations_and_unparsable_arns_are_refused(env):
    s3, _sqs, _url, arn = env

    def put(*configs, **kw):
        s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, **c} for c in configs]}, **kw)

    def rules(prefix=None, suffix=None):
        out = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v is not None]
        return {"Filter": {"Key": {"FilterRules": out}}} if out else {}

    overlapping = [
        ({"Events": ["s3:ObjectCreated:*"]}, {"Events": ["s3:ObjectCreated:Put"]}),
        ({"Events": ["s3:ObjectCreated:Put"], **rules("logs/")}, {"Events": ["s3:ObjectCreated:Put"], **rules("logs/a")}),
        ({"Events": ["s3:ObjectCreated:*"], **rules(suffix=".txt")}, {"Events": ["s3:ObjectCreated:Put"]}),
    ]
    for one, two in overlapping:
        with pytest.raises(ClientError) as e:
            put(one, two)
        assert code(e) == "InvalidArgument", (one, two)
        assert e.value.response["Error"]["Message"] == ("Configurations overlap. Configurations on the same bucket "
                                                        "cannot share a common event type.")
    apart = [
        ({"Events": ["s3:ObjectCreated:*"]}, {"Events": ["s3:ObjectRemoved:*"]}),
        ({"Events": ["s3:ObjectCreated:Put"], **rules("logs/")}, {"Events": ["s3:ObjectCreated:Put"], **rules("img/")}),
        ({"Events": ["s3:ObjectCreated:*"], **rules(suffix=".txt")}, {"Events": ["s3:ObjectCreated:*"],
                                                                       **rules(suffix=".csv")}),
    ]
    for one, two in apart:
        put(one, two)
    for skip in (False, True):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3", NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": "not-an-arn", "Events": ["s3:ObjectCreated:*"]}]},
                SkipDestinationValidation=skip)
        error = e.value.response["Error"]
        assert (error["Code"], error["ArgumentName1"], error["ArgumentValue1"]) == \
            ("InvalidArgument", "not-an-arn", "The ARN could not be parsed")
    assert len(s3.get_bucket_notification_configuration(Bucket="snssqstestbuckets3")["QueueConfigurations"]) == 2


def test_each_put_reaches_a_long_poll_already_waiting(env):
    """PutObject → message in the queue, one at a time: a consumer's long poll gets each event
    (the time it takes is measured by the s3.notify benchmark, not here)."""
    s3, sqs, url, arn = env
    _configure(s3, arn, rules=())
    _drain(sqs, url)
    for i in range(20):
        s3.put_object(Bucket="snssqstestbuckets3", Key=f"k{i}", Body=b"x")
        r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)
        [m] = r["Messages"]
        assert json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"] == f"k{i}"
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_seed_000_path_through_sns(env, server):
    """Seed 000: a .txt upload reaches the queue through the topic, the S3 event inside the SNS envelope."""
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/_tsunagi/health", timeout=5) as r:
        if "sns" not in json.loads(r.read())["services"]:
            pytest.skip("this build has no SNS service yet")
    s3, sqs, url, qarn = env
    sns = server.client("sns")
    topic = sns.create_topic(Name="snssqstesttopic")["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "SNS:Publish", "Resource": topic,
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::snssqstestbuckets3"}}}]}))
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*",
                                                "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    s3.put_bucket_notification_configuration(Bucket="snssqstestbuckets3", NotificationConfiguration={
        "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": "txt"}]}}}]})
    _drain(sqs, url)                                   # the s3:TestEvent
    s3.put_object(Bucket="snssqstestbuckets3", Key="report.txt", Body=b"hello")
    s3.put_object(Bucket="snssqstestbuckets3", Key="report.csv", Body=b"a,b")
    (envelope,) = _drain(sqs, url)
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    assert envelope["Subject"] == "Amazon S3 Notification"
    (record,) = json.loads(envelope["Message"])["Records"]
    assert record["eventName"] == "ObjectCreated:Put" and record["s3"]["object"]["key"] == "report.txt"


def _records(sqs, url, n: int, timeout: float = 10.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += [r for m in _drain(sqs, url) for r in m.get("Records", [])]
    return got


def test_tagging_acl_and_restore_events(env):
    """PutObjectTagging, DeleteObjectTagging and PutObjectAcl send their events; a RestoreObject of an
    archived object sends ObjectRestore:Post and ObjectRestore:Completed, the latter with
    glacierEventData, and the restored copy is readable until its expiry."""
    s3, sqs, url, arn = env
    _configure(s3, arn, events=("s3:ObjectTagging:*", "s3:ObjectAcl:Put", "s3:ObjectRestore:*"), rules=())
    bucket = "snssqstestbuckets3"
    s3.put_object(Bucket=bucket, Key="cold.txt", Body=b"frozen", StorageClass="GLACIER")
    s3.put_object_tagging(Bucket=bucket, Key="cold.txt", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    s3.delete_object_tagging(Bucket=bucket, Key="cold.txt")
    s3.put_object_acl(Bucket=bucket, Key="cold.txt", ACL="private")
    assert [r["eventName"] for r in _records(sqs, url, 3)] == ["ObjectTagging:Put", "ObjectTagging:Delete",
                                                               "ObjectAcl:Put"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="cold.txt")
    assert code(e) == "InvalidObjectState" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert e.value.response["Error"]["StorageClass"] == "GLACIER"
    head = s3.head_object(Bucket=bucket, Key="cold.txt")
    assert head["StorageClass"] == "GLACIER" and "Restore" not in head
    started = s3.restore_object(Bucket=bucket, Key="cold.txt",
                                RestoreRequest={"Days": 2, "GlacierJobParameters": {"Tier": "Bulk"}})
    assert started["ResponseMetadata"]["HTTPStatusCode"] == 202
    restore = s3.head_object(Bucket=bucket, Key="cold.txt")["Restore"]
    assert re.fullmatch(r'ongoing-request="false", expiry-date="\w{3}, \d\d \w{3} \d{4} 00:00:00 GMT"', restore)
    assert s3.get_object(Bucket=bucket, Key="cold.txt")["Body"].read() == b"frozen"
    again = s3.restore_object(Bucket=bucket, Key="cold.txt", RestoreRequest={"Days": 3})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    records = _records(sqs, url, 3)
    assert [r["eventName"] for r in records] == ["ObjectRestore:Post", "ObjectRestore:Completed",
                                                 "ObjectRestore:Completed"]
    data = records[1]["glacierEventData"]["restoreEventData"]
    assert data["lifecycleRestoreStorageClass"] == "GLACIER"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00\.000Z", data["lifecycleRestorationExpiryTime"])
    assert "glacierEventData" not in records[0]
    s3.put_object(Bucket=bucket, Key="warm.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="deep.txt", Body=b"x", StorageClass="DEEP_ARCHIVE")
    for key, request, want in [
        ("warm.txt", {"Days": 1}, ("InvalidObjectState", "Restore is not allowed for the object's current storage class")),
        ("deep.txt", {"Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}}, ("InvalidArgument", None)),
        ("deep.txt", {"Days": 0}, ("InvalidArgument", None)),
    ]:
        with pytest.raises(ClientError) as e:
            s3.restore_object(Bucket=bucket, Key=key, RestoreRequest=request)
        assert code(e) == want[0] and (want[1] is None or e.value.response["Error"]["Message"] == want[1]), key


def test_deleting_a_key_that_is_not_there_still_sends_its_event(env):
    """S3 answers DeleteObject and DeleteObjects for a missing key with success, and sends
    ObjectRemoved:Delete for it as for any other delete."""
    s3, sqs, url, arn = env
    _configure(s3, arn, events=("s3:ObjectRemoved:*",), rules=())
    s3.delete_object(Bucket="snssqstestbuckets3", Key="never-was")
    s3.delete_objects(Bucket="snssqstestbuckets3", Delete={"Objects": [{"Key": "nor-this"}, {"Key": "nor-that"}]})
    records = _records(sqs, url, 3)
    assert sorted((r["eventName"], r["s3"]["object"]["key"]) for r in records) == [
        ("ObjectRemoved:Delete", "never-was"), ("ObjectRemoved:Delete", "nor-that"),
        ("ObjectRemoved:Delete", "nor-this")]
    assert all("size" not in r["s3"]["object"] and "eTag" not in r["s3"]["object"] for r in records)
