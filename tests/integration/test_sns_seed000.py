"""Seed 000's chain, configured by API: S3 (ObjectCreated, suffix txt) → SNS topic (policy with aws:SourceArn)
→ SQS queue (policy allowing the topic); the queue receives the SNS envelope of the S3 event."""

from __future__ import annotations

import json

from tests.integration.sns_support import queue, receive


def test_s3_to_sns_to_sqs(server) -> None:
    s3, sns, sqs = server.client("s3"), server.client("sns"), server.sqs_client()
    bucket = "snssqstestbuckets3"
    topic = sns.create_topic(Name="snssqstesttopic")["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "SID", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                       "Action": "SNS:Publish", "Resource": topic,
                       "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}}}]}))
    url, qarn = queue(server, "snssqstestqueue", VisibilityTimeout="900")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "SID", "Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*",
                       "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"TopicConfigurations": [{
        "TopicArn": topic, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": "txt"}]}}}]})
    s3.put_object(Bucket=bucket, Key="skip.csv", Body=b"no")
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hi")
    events = []
    for m in receive(server, url, n=3, timeout=10):
        envelope = json.loads(m["Body"])
        assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
        events.append(json.loads(envelope["Message"]))
    records = [e for e in events if "Records" in e]
    assert len(records) == 1, events
    (rec,) = records[0]["Records"]
    assert rec["eventSource"] == "aws:s3" and rec["eventName"].startswith("ObjectCreated:")
    assert rec["s3"]["bucket"]["name"] == bucket and rec["s3"]["object"]["key"] == "hello.txt"
