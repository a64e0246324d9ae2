"""Amazon S3 request metrics (AWS/S3) in CloudWatch: published for each metrics configuration of a
bucket (dimensions BucketName and FilterId), counting the requests its filter matches."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import require_postgres
from tests.integration.cloudwatch_support import client, own_server, ready
from tests.support.nodes import nodes_on_one_database
from tests.support.server import TsunagiServer

FAST = {"TSUNAGI_CLOUDWATCH_PUBLISH_SECONDS": "1"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fast_server(request: pytest.FixtureRequest):
    yield from own_server(request, FAST)


@pytest.fixture
def server(fast_server: TsunagiServer) -> TsunagiServer:
    return ready(fast_server)


def stat(cw, name: str, bucket: str, filter_id: str, statistic: str = "Sum", want: float | None = None,
         timeout: float = 20.0) -> float | None:
    """``statistic`` of an AWS/S3 metric over the last minutes, waiting for the flush until it is ``want``."""
    dims = [{"Name": "BucketName", "Value": bucket}, {"Name": "FilterId", "Value": filter_id}]
    deadline = time.monotonic() + timeout
    while True:
        t = dt.datetime.now(dt.UTC)
        points = cw.get_metric_statistics(Namespace="AWS/S3", MetricName=name, Dimensions=dims, Period=3600,
                                          Statistics=[statistic], StartTime=t - dt.timedelta(minutes=30),
                                          EndTime=t + dt.timedelta(minutes=5))["Datapoints"]
        if statistic == "Sum":
            value = sum(p["Sum"] for p in points) if points else None
        elif statistic == "Maximum":
            value = max(p["Maximum"] for p in points) if points else None
        else:
            value = sum(p["SampleCount"] for p in points) if points else None
        if (want is None and points) or value == want or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def test_request_metrics_per_configuration_and_filter(server) -> None:
    s3, cw = server.client("s3"), client(server)
    s3.create_bucket(Bucket="metered")
    s3.put_bucket_metrics_configuration(Bucket="metered", Id="EntireBucket",
                                        MetricsConfiguration={"Id": "EntireBucket"})
    s3.put_bucket_metrics_configuration(Bucket="metered", Id="logs",
                                        MetricsConfiguration={"Id": "logs", "Filter": {"Prefix": "logs/"}})
    s3.create_bucket(Bucket="quiet")

    s3.put_object(Bucket="metered", Key="logs/a.txt", Body=b"x" * 100)        # PUT, 100 bytes up
    s3.put_object(Bucket="metered", Key="data/b.txt", Body=b"y" * 40)         # PUT, outside the prefix
    assert s3.get_object(Bucket="metered", Key="logs/a.txt")["Body"].read() == b"x" * 100
    s3.get_object(Bucket="metered", Key="data/b.txt")["Body"].read()
    s3.head_object(Bucket="metered", Key="logs/a.txt")
    s3.list_objects_v2(Bucket="metered")                                       # bucket-level: EntireBucket only
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="metered", Key="logs/missing")                    # 404 NoSuchKey
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    s3.delete_object(Bucket="metered", Key="data/b.txt")
    s3.put_object(Bucket="quiet", Key="logs/c.txt", Body=b"z")
    s3.get_object(Bucket="quiet", Key="logs/c.txt")["Body"].read()

    # the whole bucket: 2 PUT, 3 GET (one failed), 1 HEAD, 1 LIST, 1 DELETE, and the two
    # PutBucketMetricsConfiguration (bucket-level: AllRequests only), each answered once it applied
    assert stat(cw, "AllRequests", "metered", "EntireBucket", want=10.0) == 10.0
    assert stat(cw, "PutRequests", "metered", "EntireBucket", want=2.0) == 2.0
    assert stat(cw, "GetRequests", "metered", "EntireBucket", want=3.0) == 3.0
    assert stat(cw, "HeadRequests", "metered", "EntireBucket", want=1.0) == 1.0
    assert stat(cw, "ListRequests", "metered", "EntireBucket", want=1.0) == 1.0
    assert stat(cw, "DeleteRequests", "metered", "EntireBucket", want=1.0) == 1.0
    assert stat(cw, "4xxErrors", "metered", "EntireBucket", want=1.0) == 1.0
    assert stat(cw, "4xxErrors", "metered", "EntireBucket", "SampleCount", want=10.0) == 10.0   # 0 or 1 a request
    assert stat(cw, "5xxErrors", "metered", "EntireBucket", want=0.0) == 0.0
    # the requests with a body: the two objects (140 bytes) and the two configurations' XML
    assert stat(cw, "BytesUploaded", "metered", "EntireBucket", "SampleCount", want=4.0) == 4.0
    assert stat(cw, "BytesUploaded", "metered", "EntireBucket") > 140.0
    assert stat(cw, "BytesDownloaded", "metered", "EntireBucket", "Maximum") >= 100.0
    downloaded = stat(cw, "BytesDownloaded", "metered", "EntireBucket")
    assert downloaded is not None and downloaded >= 140.0          # both objects, plus the list and the error bodies
    assert stat(cw, "TotalRequestLatency", "metered", "EntireBucket", "SampleCount", want=10.0) == 10.0
    assert stat(cw, "FirstByteLatency", "metered", "EntireBucket", "Maximum") >= 0.0

    # the prefix: the requests for objects under logs/ (the PUT, the GET, the HEAD and the failed GET)
    assert stat(cw, "AllRequests", "metered", "logs", want=4.0) == 4.0
    assert stat(cw, "GetRequests", "metered", "logs", want=2.0) == 2.0
    assert stat(cw, "PutRequests", "metered", "logs", want=1.0) == 1.0
    assert stat(cw, "HeadRequests", "metered", "logs", want=1.0) == 1.0
    assert stat(cw, "4xxErrors", "metered", "logs", want=1.0) == 1.0
    assert stat(cw, "BytesUploaded", "metered", "logs", want=100.0) == 100.0
    assert stat(cw, "ListRequests", "metered", "logs", timeout=0) is None
    assert stat(cw, "DeleteRequests", "metered", "logs", timeout=0) is None

    listed = cw.list_metrics(Namespace="AWS/S3")["Metrics"]
    dims = {tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed}
    assert dims == {(("BucketName", "metered"), ("FilterId", "EntireBucket")),
                    (("BucketName", "metered"), ("FilterId", "logs"))}           # nothing for the bucket without one
    names = {m["MetricName"] for m in listed}
    assert {"AllRequests", "GetRequests", "PutRequests", "HeadRequests", "ListRequests", "DeleteRequests",
            "BytesDownloaded", "BytesUploaded", "4xxErrors", "5xxErrors", "FirstByteLatency",
            "TotalRequestLatency"} <= names


def test_configuration_changes_apply_to_the_next_requests(server) -> None:
    s3, cw = server.client("s3"), client(server)
    s3.create_bucket(Bucket="toggled")
    s3.put_object(Bucket="toggled", Key="before", Body=b"a")                   # no configuration yet: not counted
    s3.put_bucket_metrics_configuration(Bucket="toggled", Id="all", MetricsConfiguration={"Id": "all"})
    s3.put_object(Bucket="toggled", Key="during", Body=b"b")
    s3.put_bucket_tagging(Bucket="toggled", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})   # bucket-level PUT
    s3.delete_bucket_metrics_configuration(Bucket="toggled", Id="all")
    s3.put_object(Bucket="toggled", Key="after", Body=b"c")                    # removed: not counted
    # counted: the PUT of the configuration itself (answered once it applied), the PUT of "during" and
    # the bucket's tagging; not the deletion of the configuration (answered once it no longer applied)
    assert stat(cw, "AllRequests", "toggled", "all", want=3.0) == 3.0
    assert stat(cw, "PutRequests", "toggled", "all", want=1.0) == 1.0


def test_a_tag_filter_counts_requests_for_objects_with_the_tag(server) -> None:
    s3, cw = server.client("s3"), client(server)
    s3.create_bucket(Bucket="tagged")
    s3.put_bucket_metrics_configuration(Bucket="tagged", Id="hot", MetricsConfiguration={
        "Id": "hot", "Filter": {"And": {"Prefix": "p/", "Tags": [{"Key": "tier", "Value": "hot"}]}}})
    s3.put_object(Bucket="tagged", Key="p/one", Body=b"1", Tagging="tier=hot")
    s3.put_object(Bucket="tagged", Key="p/two", Body=b"2", Tagging="tier=cold")
    s3.put_object(Bucket="tagged", Key="q/three", Body=b"3", Tagging="tier=hot")
    s3.get_object(Bucket="tagged", Key="p/one")["Body"].read()
    s3.get_object(Bucket="tagged", Key="p/two")["Body"].read()
    assert stat(cw, "AllRequests", "tagged", "hot", want=2.0) == 2.0           # p/one's PUT and GET
    assert stat(cw, "GetRequests", "tagged", "hot", want=1.0) == 1.0


def test_posts_and_multi_object_deletes(server) -> None:
    import requests

    s3, cw = server.client("s3"), client(server)
    s3.create_bucket(Bucket="posted")
    s3.put_bucket_metrics_configuration(Bucket="posted", Id="EntireBucket",
                                        MetricsConfiguration={"Id": "EntireBucket"})
    post = s3.generate_presigned_post("posted", "form/${filename}", ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"form bytes")}, timeout=10)
    assert r.status_code == 204, r.text                                         # a browser-form upload: POST
    upload = s3.create_multipart_upload(Bucket="posted", Key="big")["UploadId"]  # POST
    etag = s3.upload_part(Bucket="posted", Key="big", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]   # PUT
    s3.complete_multipart_upload(Bucket="posted", Key="big", UploadId=upload,       # POST
                                 MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
    s3.delete_objects(Bucket="posted", Delete={"Objects": [{"Key": "big"}, {"Key": "form/a.txt"}]})  # a DELETE
    assert stat(cw, "PostRequests", "posted", "EntireBucket", want=3.0) == 3.0
    assert stat(cw, "PutRequests", "posted", "EntireBucket", want=1.0) == 1.0
    assert stat(cw, "DeleteRequests", "posted", "EntireBucket", want=1.0) == 1.0
    assert stat(cw, "AllRequests", "posted", "EntireBucket", want=6.0) == 6.0   # and the configuration's own PUT

@pytest.mark.slow
def test_another_servers_configuration_change_applies(tmp_path) -> None:
    require_postgres()
    with nodes_on_one_database(tmp_path, "tsunagi_s3m", env=dict(FAST)) as (a, b):
        s3a, s3b, cw = a.client("s3"), b.client("s3"), client(a)
        s3a.create_bucket(Bucket="shared")
        s3a.put_object(Bucket="shared", Key="k", Body=b"v")
        s3b.get_object(Bucket="shared", Key="k")["Body"].read()        # b now knows the bucket: no configuration
        time.sleep(0.5)
        s3a.put_bucket_metrics_configuration(Bucket="shared", Id="all", MetricsConfiguration={"Id": "all"})
        time.sleep(0.5)                                                 # (the change is notified to b)
        for _ in range(3):
            s3b.get_object(Bucket="shared", Key="k")["Body"].read()
        assert stat(cw, "GetRequests", "shared", "all", want=3.0) == 3.0
        s3a.delete_bucket_metrics_configuration(Bucket="shared", Id="all")
        time.sleep(0.5)
        s3b.get_object(Bucket="shared", Key="k")["Body"].read()        # no longer counted
        time.sleep(2.5)                                                 # (two flushes)
        assert stat(cw, "GetRequests", "shared", "all", timeout=0) == 3.0
