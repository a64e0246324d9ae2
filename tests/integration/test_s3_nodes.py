"""S3 on several servers sharing one PostgreSQL database: simultaneous writes to one key all succeed and
the last commit wins, a versioned key keeps exactly one current version, and the event `sequencer`
orders a key's events as their commits did (the greatest one is the object that survived)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import require_postgres
from tests.support.nodes import nodes_on_one_database

pytestmark = pytest.mark.slow

WRITERS = 8


@pytest.fixture
def nodes(tmp_path):
    require_postgres()
    with nodes_on_one_database(tmp_path, "tsunagi_s3n") as servers:
        yield servers


def clients(nodes, service: str) -> list:
    """One client per writer, alternating between the servers."""
    return [nodes[i % len(nodes)].client(service, max_pool_connections=WRITERS) for i in range(WRITERS)]


def race(s3s, bucket: str, key: str, tag: str) -> list[dict]:
    """WRITERS PutObject calls to one key at once; every answer comes back (an error raises)."""
    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(c.put_object, Bucket=bucket, Key=key, Body=f"{tag}-{i}".encode())
                   for i, c in enumerate(s3s)]
        return [f.result() for f in futures]


@pytest.mark.parametrize("count", [1, 2])
def test_simultaneous_puts_to_one_key_all_succeed_and_one_survives(nodes, count) -> None:
    used = nodes[:count]
    s3s = clients(used, "s3")
    s3s[0].create_bucket(Bucket="race")
    for round_ in range(5):
        puts = race(s3s, "race", "k", f"r{round_}")
        etags = {p["ETag"] for p in puts}
        for node in used:                          # every server reads the same survivor, one of the writes
            got = node.client("s3").get_object(Bucket="race", Key="k")
            assert got["ETag"] in etags
            assert got["Body"].read().decode().startswith(f"r{round_}-")
    listed = s3s[0].list_objects_v2(Bucket="race")["Contents"]
    assert [o["Key"] for o in listed] == ["k"]
    versions = s3s[0].list_object_versions(Bucket="race")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [("k", "null", True)]


def test_versioned_key_keeps_one_current_version_under_simultaneous_puts(nodes) -> None:
    s3s = clients(nodes, "s3")
    s3 = s3s[0]
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    keys = [f"key{i:02d}" for i in range(10)]
    made: dict[str, set[str]] = {}
    for key in keys:
        made[key] = {p["VersionId"] for p in race(s3s, "versioned", key, key)}
        assert len(made[key]) == WRITERS
    listed = s3.list_objects_v2(Bucket="versioned")["Contents"]
    assert [o["Key"] for o in listed] == keys                  # each key once
    versions = []
    marker: dict[str, str] = {}
    while True:
        page = s3.list_object_versions(Bucket="versioned", **marker)
        versions += page["Versions"]
        if not page["IsTruncated"]:
            break
        marker = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    for key in keys:
        mine = [v for v in versions if v["Key"] == key]
        assert {v["VersionId"] for v in mine} == made[key]
        latest = [v for v in mine if v["IsLatest"]]
        assert len(latest) == 1, f"{key}: {len(latest)} current versions"
        assert latest[0] == mine[0]                            # newest first: the current one leads
        for node in nodes:
            assert node.client("s3").head_object(Bucket="versioned", Key=key)["VersionId"] == \
                latest[0]["VersionId"]


def test_greatest_sequencer_is_the_surviving_write(nodes) -> None:
    s3s = clients(nodes, "s3")
    s3, sqs = s3s[0], nodes[0].client("sqs")
    url = sqs.create_queue(QueueName="events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for bucket, versioned in (("seq-plain", False), ("seq-versioned", True)):
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    drain(sqs, url, 0)                                         # the test events
    for bucket, versioned in (("seq-plain", False), ("seq-versioned", True)):
        for round_ in range(4):
            key = f"k{round_}"
            race(s3s, bucket, key, key)
            head = s3.head_object(Bucket=bucket, Key=key)
            records = [r for r in drain(sqs, url, WRITERS) if r["s3"]["bucket"]["name"] == bucket]
            assert len(records) == WRITERS
            seqs = [r["s3"]["object"]["sequencer"] for r in records]
            assert len(set(seqs)) == WRITERS                   # one per commit, never shared
            last = max(records, key=lambda r: int(r["s3"]["object"]["sequencer"], 16))["s3"]["object"]
            assert last["eTag"] == head["ETag"].strip('"')
            if versioned:
                assert last["versionId"] == head["VersionId"]


def drain(sqs, url: str, want: int) -> list[dict]:
    """Event records until ``want`` arrived (or the queue stays empty for 2 s when ``want`` is 0)."""
    out: list[dict] = []
    while True:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        msgs = r.get("Messages", [])
        for m in msgs:
            body = json.loads(m["Body"])
            out += body.get("Records", [])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not msgs or (want and len(out) >= want):
            return out


def test_one_of_simultaneous_create_only_puts_wins(nodes) -> None:
    """If-None-Match: * from every writer at once: one creates the key, the others get 412."""
    from botocore.exceptions import ClientError

    s3s = clients(nodes, "s3")
    s3s[0].create_bucket(Bucket="create-only")

    def put(i: int, key: str) -> str:
        try:
            s3s[i].put_object(Bucket="create-only", Key=key, Body=f"v{i}".encode(), IfNoneMatch="*")
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    for round_ in range(4):
        with ThreadPoolExecutor(WRITERS) as pool:
            outcomes = list(pool.map(put, range(WRITERS), [f"k{round_}"] * WRITERS))
        assert outcomes.count("ok") == 1, outcomes
        assert set(outcomes) == {"ok", "PreconditionFailed"}, outcomes
