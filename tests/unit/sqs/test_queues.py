"""Queue lifecycle, attributes, tags, permissions, listing."""

from __future__ import annotations

import json


def test_create_get_url_and_idempotent_create(sqs):
    async def body(h):
        url = await h.create("q1", VisibilityTimeout=20)
        assert url == "http://localhost:4566/000000000000/q1"
        assert await h.create("q1", VisibilityTimeout=20) == url
        assert await h.create("q1") == url
        e = await h.fails(h.create("q1", VisibilityTimeout=21), "QueueNameExists",
                          "A queue already exists with the same name and a different value for attribute "
                          "VisibilityTimeout")
        assert e.query_code == "QueueAlreadyExists"
        out = await h.svc.get_queue_url(h.ctx, {"QueueName": "q1"})
        assert out == {"QueueUrl": url}
        await h.fails(h.svc.get_queue_url(h.ctx, {"QueueName": "nope"}), "QueueDoesNotExist")
        # other account, by QueueOwnerAWSAccountId
        other = h.context(account="111111111111")
        await h.create("theirs", ctx=other)
        out = await h.svc.get_queue_url(h.ctx, {"QueueName": "theirs", "QueueOwnerAWSAccountId": "111111111111"})
        assert out["QueueUrl"].endswith("/111111111111/theirs")
        # accounts and regions are isolated
        await h.fails(h.svc.get_queue_url(h.ctx, {"QueueName": "theirs"}), "QueueDoesNotExist")
        await h.fails(h.svc.get_queue_url(h.context(region="eu-west-1"), {"QueueName": "q1"}), "QueueDoesNotExist")
    sqs(body)


def test_queue_urls_accepted_in_several_forms(sqs):
    async def body(h):
        await h.create("q1")
        for url in ("http://localhost:4566/000000000000/q1", "http://other-host:1234/000000000000/q1",
                    "https://sqs.us-east-1.amazonaws.com/000000000000/q1", "q1"):
            await h.send(url, "x")
        assert len(await h.recv("q1")) == 4
    sqs(body)


def test_queue_name_rules(sqs):
    async def body(h):
        await h.fails(h.create("bad name"), "InvalidParameterValue", "Can only include alphanumeric characters")
        await h.fails(h.create("x" * 81), "InvalidParameterValue")
        await h.fails(h.create("q.fifo"), "InvalidParameterValue")
        await h.fails(h.create("q", FifoQueue="true"), "InvalidParameterValue", "must end with .fifo suffix")
        await h.create("q.fifo", FifoQueue="true")
    sqs(body)


def test_delete_queue_and_recreate_within_60s(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.send(url, "x")
        await h.svc.delete_queue(h.ctx, {"QueueUrl": url})
        await h.fails(h.send(url, "x"), "QueueDoesNotExist")
        e = await h.fails(h.create("q1"), "QueueDeletedRecently",
                          "You must wait 60 seconds after deleting a queue before you can create another with the "
                          "same name.")
        assert e.query_code == "AWS.SimpleQueueService.QueueDeletedRecently"
        h.clock.advance(61)
        url = await h.create("q1")
        assert await h.recv(url) == []
    sqs(body)


def test_default_attributes(sqs):
    async def body(h):
        url = await h.create("q1")
        a = await h.attrs(url)
        t = str(int(h.clock.now()))
        assert a == {
            "QueueArn": "arn:aws:sqs:us-east-1:000000000000:q1", "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0", "ApproximateNumberOfMessagesDelayed": "0",
            "CreatedTimestamp": t, "LastModifiedTimestamp": t, "VisibilityTimeout": "30",
            "MaximumMessageSize": "1048576", "MessageRetentionPeriod": "345600", "DelaySeconds": "0",
            "ReceiveMessageWaitTimeSeconds": "0", "SqsManagedSseEnabled": "true"}
        f = await h.attrs(await h.create("f.fifo", FifoQueue="true"))
        assert f["FifoQueue"] == "true" and f["ContentBasedDeduplication"] == "false"
        assert f["DeduplicationScope"] == "queue" and f["FifoThroughputLimit"] == "perQueue"
    sqs(body)


def test_attribute_validation(sqs):
    async def body(h):
        url = await h.create("q1")
        svc, ctx = h.svc, h.ctx

        async def set_(**a):
            await svc.set_queue_attributes(ctx, {"QueueUrl": url, "Attributes": {k: str(v) for k, v in a.items()}})

        for name, bad in (("VisibilityTimeout", 43201), ("VisibilityTimeout", -1), ("DelaySeconds", 901),
                          ("MaximumMessageSize", 1023), ("MaximumMessageSize", 1048577),
                          ("MessageRetentionPeriod", 59), ("MessageRetentionPeriod", 1209601),
                          ("ReceiveMessageWaitTimeSeconds", 21), ("KmsDataKeyReusePeriodSeconds", 59),
                          ("VisibilityTimeout", "abc")):
            await h.fails(set_(**{name: bad}), "InvalidAttributeValue", f"Invalid value for the parameter {name}.")
        await h.fails(set_(Foo=1), "InvalidAttributeName", "Unknown Attribute Foo.")
        await h.fails(set_(ContentBasedDeduplication="true"), "InvalidAttributeName")
        await h.fails(set_(FifoQueue="true"), "InvalidAttributeName")
        await h.fails(set_(Policy="{not json"), "InvalidAttributeValue")
        h.clock.advance(5)
        await set_(VisibilityTimeout=69, MaximumMessageSize=2048, DelaySeconds=420)
        a = await h.attrs(url, "VisibilityTimeout", "MaximumMessageSize", "DelaySeconds", "LastModifiedTimestamp",
                          "CreatedTimestamp")
        assert a["VisibilityTimeout"] == "69" and a["MaximumMessageSize"] == "2048" and a["DelaySeconds"] == "420"
        assert int(a["LastModifiedTimestamp"]) == int(a["CreatedTimestamp"]) + 5
        await h.fails(h.svc.get_queue_attributes(ctx, {"QueueUrl": url, "AttributeNames": ["Bogus"]}),
                      "InvalidAttributeName")
        # the new size limit applies to the next send at once
        await h.fails(h.send(url, "x" * 2049), "InvalidParameterValue", "shorter than 2048 bytes")
    sqs(body)


def test_sse_attributes(sqs):
    async def body(h):
        url = await h.create("q1")
        await h.svc.set_queue_attributes(h.ctx, {"QueueUrl": url, "Attributes": {
            "KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000"}})
        assert await h.attrs(url, "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled") == {
            "KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000", "SqsManagedSseEnabled": "false"}
        await h.fails(h.svc.set_queue_attributes(h.ctx, {"QueueUrl": url, "Attributes": {
            "KmsMasterKeyId": "k", "SqsManagedSseEnabled": "true"}}), "InvalidAttributeName",
            "You can use one type of server-side encryption (SSE) at one time.")
    sqs(body)


def test_list_queues_prefix_and_pagination(sqs):
    async def body(h):
        for n in ("a1", "a2", "a3", "b1"):
            await h.create(n)
        out = await h.svc.list_queues(h.ctx, {"QueueNamePrefix": "a"})
        assert [u.rsplit("/", 1)[1] for u in out["QueueUrls"]] == ["a1", "a2", "a3"]
        assert "NextToken" not in out
        page = await h.svc.list_queues(h.ctx, {"MaxResults": 2})
        assert len(page["QueueUrls"]) == 2 and page["NextToken"]
        rest = await h.svc.list_queues(h.ctx, {"MaxResults": 2, "NextToken": page["NextToken"]})
        assert [u.rsplit("/", 1)[1] for u in page["QueueUrls"] + rest["QueueUrls"]] == ["a1", "a2", "a3", "b1"]
        assert "NextToken" not in rest
        assert await h.svc.list_queues(h.ctx, {"QueueNamePrefix": "zzz"}) == {}
        await h.fails(h.svc.list_queues(h.ctx, {"MaxResults": 1001}), "InvalidParameterValue")
    sqs(body)


def test_tags(sqs):
    async def body(h):
        url = (await h.svc.create_queue(h.ctx, {"QueueName": "q1", "tags": {"team": "a"}}))["QueueUrl"]
        await h.svc.tag_queue(h.ctx, {"QueueUrl": url, "Tags": {"env": "dev", "team": "b"}})
        assert await h.svc.list_queue_tags(h.ctx, {"QueueUrl": url}) == {"Tags": {"team": "b", "env": "dev"}}
        await h.svc.untag_queue(h.ctx, {"QueueUrl": url, "TagKeys": ["team", "missing"]})
        assert await h.svc.list_queue_tags(h.ctx, {"QueueUrl": url}) == {"Tags": {"env": "dev"}}
        await h.svc.untag_queue(h.ctx, {"QueueUrl": url, "TagKeys": ["env"]})
        assert await h.svc.list_queue_tags(h.ctx, {"QueueUrl": url}) == {"Tags": {}}
    sqs(body)


def test_permissions_edit_policy(sqs):
    async def body(h):
        url = await h.create("q1")
        arn = await h.arn(url)
        svc, ctx = h.svc, h.ctx
        await svc.add_permission(ctx, {"QueueUrl": url, "Label": "crossaccountpermission",
                                       "AWSAccountIds": ["000000000000", "668614515564"],
                                       "Actions": ["ReceiveMessage"]})
        policy = json.loads((await h.attrs(url, "Policy"))["Policy"])
        assert policy["Version"] == "2008-10-17"
        assert policy["Statement"] == [{
            "Sid": "crossaccountpermission", "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::000000000000:root", "arn:aws:iam::668614515564:root"]},
            "Action": "SQS:ReceiveMessage", "Resource": arn}]
        await h.fails(svc.add_permission(ctx, {"QueueUrl": url, "Label": "crossaccountpermission",
                                               "AWSAccountIds": ["000000000000"], "Actions": ["SendMessage"]}),
                      "InvalidParameterValue",
                      "Value crossaccountpermission for parameter Label is invalid. Reason: Already exists.")
        await svc.remove_permission(ctx, {"QueueUrl": url, "Label": "crossaccountpermission"})
        assert await h.attrs(url, "Policy") == {}
        await h.fails(svc.remove_permission(ctx, {"QueueUrl": url, "Label": "crossaccountpermission"}),
                      "InvalidParameterValue", "Reason: can't find label.")
    sqs(body)
